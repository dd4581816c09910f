//! What the model remembers of a conversation: the earlier turns, bounded.
//!
//! A turn is the user's question and every message the agent exchanged with the model to
//! answer it (its tool calls and their results, and the answer). The rules:
//! 1. A turn joins the history only when it ends with an answer. A turn that failed or was
//!    cancelled (Ctrl-C) leaves the history as it was, so no request ever carries a tool
//!    call without its result.
//! 2. At most [`History::max_turns`] turns are kept (`--history-turns`, default
//!    [`DEFAULT_MAX_TURNS`]), and at most [`MAX_HISTORY_CHARS`] characters of message
//!    content; past either bound the oldest whole turns are dropped, never the latest one.
//! 3. The system prompt is not part of the history: the agent sends its own before it.

use super::super::chat::wire::Message;

/// Turns kept unless `--history-turns` says otherwise.
pub(crate) const DEFAULT_MAX_TURNS: usize = 20;

/// Most characters of message content kept across the turns (about 100k tokens). A single
/// turn over it is still kept whole: it is the one the next question refers to.
pub(crate) const MAX_HISTORY_CHARS: usize = 400_000;

/// The turns of one conversation, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct History {
    turns: Vec<Vec<Message>>,
    max_turns: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TURNS)
    }
}

impl History {
    /// An empty history keeping at most `max_turns` turns (0 keeps none: every question
    /// stands alone).
    pub(crate) fn new(max_turns: usize) -> Self {
        Self {
            turns: Vec::new(),
            max_turns,
        }
    }

    /// How many turns are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.turns.len()
    }

    /// Whether no turn is kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// Every kept message, oldest first, to send before a new question.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &Message> {
        self.turns.iter().flatten()
    }

    /// Forgets every turn (`/new`).
    pub(crate) fn clear(&mut self) {
        self.turns.clear();
    }

    /// Adds a finished turn, then drops the oldest turns past the bounds.
    pub(crate) fn push_turn(&mut self, turn: Vec<Message>) {
        if self.max_turns == 0 || turn.is_empty() {
            return;
        }
        self.turns.push(turn);
        let excess = self.turns.len().saturating_sub(self.max_turns);
        self.turns.drain(..excess);
        let mut chars: usize = self.turns.iter().map(|t| turn_chars(t)).sum();
        while self.turns.len() > 1 && chars > MAX_HISTORY_CHARS {
            chars -= turn_chars(&self.turns.remove(0));
        }
    }
}

fn turn_chars(turn: &[Message]) -> usize {
    turn.iter().map(message_chars).sum()
}

fn message_chars(message: &Message) -> usize {
    match message {
        Message::System { content } | Message::User { content } => content.len(),
        Message::Tool { content, .. } => content.len(),
        Message::Assistant {
            content,
            tool_calls,
        } => {
            content.as_ref().map_or(0, String::len)
                + tool_calls
                    .iter()
                    .map(|c| c.function.arguments.len() + c.function.name.len())
                    .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(question: &str, answer: &str) -> Vec<Message> {
        vec![
            Message::User {
                content: question.into(),
            },
            Message::Assistant {
                content: Some(answer.into()),
                tool_calls: Vec::new(),
            },
        ]
    }

    #[test]
    fn keeps_the_latest_turns_whole() {
        let mut history = History::new(2);
        history.push_turn(turn("q1", "a1"));
        history.push_turn(turn("q2", "a2"));
        history.push_turn(turn("q3", "a3"));
        let contents: Vec<String> = history
            .messages()
            .map(|m| match m {
                Message::User { content } => content.clone(),
                Message::Assistant { content, .. } => content.clone().unwrap(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(contents, ["q2", "a2", "q3", "a3"]);
        history.clear();
        assert!(history.is_empty());
        let mut none = History::new(0);
        none.push_turn(turn("q", "a"));
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn drops_old_turns_past_the_character_budget_but_never_the_last() {
        let mut history = History::new(100);
        let big = "x".repeat(MAX_HISTORY_CHARS / 2 + 1);
        history.push_turn(turn("q1", &big));
        history.push_turn(turn("q2", &big));
        assert_eq!(history.len(), 1, "two halves and a bit are over the budget");
        let huge = "y".repeat(MAX_HISTORY_CHARS * 2);
        history.push_turn(turn("q3", &huge));
        assert_eq!(history.len(), 1);
        assert!(
            matches!(history.messages().next(), Some(Message::User { content }) if content == "q3")
        );
    }
}
