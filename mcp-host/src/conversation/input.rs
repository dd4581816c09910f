//! Where the questions come from: a line editor on a terminal, or lines of piped stdin.
//!
//! On a terminal (stdin and stdout both), rustyline reads each question with line editing
//! and an in-memory history of the session's questions (Up/Down, Ctrl-R); Ctrl-C clears the
//! line being typed, Ctrl-D on an empty line ends the conversation. With stdin piped (a
//! script, a test), each line is a question; the end of input ends the conversation.

use std::io::IsTerminal as _;

use rustyline::{DefaultEditor, error::ReadlineError};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines, Stdin};

/// What the user did at the prompt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line of input, without its newline.
    Text(String),
    /// Ctrl-C while typing: the line was dropped.
    Interrupted,
    /// Ctrl-D, or the end of piped input.
    End,
}

/// The source of questions.
pub(crate) struct Input {
    source: Source,
}

enum Source {
    /// Taken out while a read runs on a blocking thread.
    Editor(Option<DefaultEditor>),
    Piped(Lines<BufReader<Stdin>>),
}

impl Input {
    /// A line editor when stdin and stdout are a terminal, else piped lines.
    pub(crate) fn open() -> std::io::Result<Self> {
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let source = if terminal {
            let editor = DefaultEditor::new().map_err(std::io::Error::other)?;
            Source::Editor(Some(editor))
        } else {
            Source::Piped(BufReader::new(tokio::io::stdin()).lines())
        };
        Ok(Self { source })
    }

    /// Whether questions come from a terminal.
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.source, Source::Editor(_))
    }

    /// The next line; `prompt` is shown on a terminal only.
    pub(crate) async fn next(&mut self, prompt: &str) -> std::io::Result<Line> {
        match &mut self.source {
            Source::Piped(lines) => Ok(match lines.next_line().await? {
                Some(line) => Line::Text(line),
                None => Line::End,
            }),
            Source::Editor(slot) => {
                let Some(mut editor) = slot.take() else {
                    return Ok(Line::End);
                };
                let prompt = prompt.to_owned();
                // rustyline blocks on the terminal: read on a blocking thread, so the
                // runtime (the servers' sessions, the trace receiver) keeps running.
                let (editor, read) = tokio::task::spawn_blocking(move || {
                    let read = editor.readline(&prompt);
                    (editor, read)
                })
                .await
                .map_err(std::io::Error::other)?;
                let mut editor = editor;
                let line = match read {
                    Ok(text) => {
                        if !text.trim().is_empty() {
                            let _ = editor.add_history_entry(text.as_str());
                        }
                        Line::Text(text)
                    }
                    Err(ReadlineError::Interrupted) => Line::Interrupted,
                    Err(ReadlineError::Eof) => Line::End,
                    Err(error) => {
                        *slot = Some(editor);
                        return Err(std::io::Error::other(error));
                    }
                };
                *slot = Some(editor);
                Ok(line)
            }
        }
    }
}
