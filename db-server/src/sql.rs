//! What the server needs to know of a statement's text, on every backend: its leading
//! keywords, a low-cardinality summary for the database span's name, and the
//! [sqlcommenter](https://google.github.io/sqlcommenter/spec/) comment that carries the
//! trace into the database.
//!
//! None of this decides what a statement may do: the databases enforce that (SQLite's
//! authorizer, PostgreSQL's read-only transaction and the role's privileges). The lexer
//! only skips whitespace, comments, string literals and quoted identifiers well enough to
//! find words; a statement it misreads gets a poorer summary, never a different effect.

/// The most characters of a summary (`db.query.summary`), as the conventions advise.
const SUMMARY_LIMIT: usize = 255;

/// How many tables a summary names at most.
const SUMMARY_TARGETS: usize = 3;

/// One token of a statement: a word (keyword or unquoted identifier), a quoted identifier,
/// or punctuation. Literals, comments and whitespace are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A bare word, as written.
    Word(&'a str),
    /// A `"quoted"` (or `` `backtick` `` / `[bracket]`) identifier, without its quotes.
    Quoted(String),
    /// Any other character that is not part of a literal.
    Punct(char),
    /// A string, number or other literal (its text is never kept).
    Literal,
}

/// Splits `sql` into tokens, skipping whitespace, `--` and `/* */` comments (nested, as
/// PostgreSQL nests them), and the insides of string literals (`'...'`, `E'...'`,
/// `$tag$...$tag$`).
fn tokens(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            // PostgreSQL's whitespace includes the vertical tab (is_ascii_whitespace does
            // not), and a `--` comment ends at a carriage return as at a newline.
            b if b.is_ascii_whitespace() || b == 0x0B => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'\'' => {
                i = skip_quoted(bytes, i, b'\'');
                out.push(Token::Literal);
            }
            b'"' | b'`' | b'[' => {
                let close = match c {
                    b'[' => b']',
                    other => other,
                };
                let end = skip_quoted(bytes, i, close);
                let inner = &sql[i + 1..end.saturating_sub(1).max(i + 1)];
                let doubled = [close as char, close as char].iter().collect::<String>();
                out.push(Token::Quoted(
                    inner.replace(&doubled, &(close as char).to_string()),
                ));
                i = end;
            }
            b'$' => {
                // A dollar-quoted string ($$...$$ or $tag$...$tag$), or a $1 parameter.
                let tag_end = bytes[i + 1..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map(|n| i + 1 + n);
                match tag_end {
                    Some(end)
                        if bytes[end] == b'$'
                            && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
                    {
                        let tag = &sql[i..=end];
                        let body = end + 1;
                        i = sql[body..]
                            .find(tag)
                            .map_or(bytes.len(), |n| body + n + tag.len());
                        out.push(Token::Literal);
                    }
                    _ => {
                        i += 1;
                        while i < bytes.len() && bytes[i].is_ascii_digit() {
                            i += 1;
                        }
                        out.push(Token::Literal);
                    }
                }
            }
            b if b.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                out.push(Token::Literal);
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                // E'...', X'...', B'...', N'...', U&'...' are literals with a prefix.
                if bytes.get(i) == Some(&b'\'') && i - start == 1 {
                    i = skip_quoted(bytes, i, b'\'');
                    out.push(Token::Literal);
                } else {
                    out.push(Token::Word(&sql[start..i]));
                }
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or('?');
                out.push(Token::Punct(ch));
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// The index just past the quoted run that starts at `start` and closes with `close`
/// (a doubled `close` is part of the text; a backslash escapes inside `'...'`, which
/// over-skips only in the rare standard-conforming string that ends in a backslash).
fn skip_quoted(bytes: &[u8], start: usize, close: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && close == b'\'' {
            i += 2;
            continue;
        }
        if bytes[i] == close {
            if bytes.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The statement's first `n` words, upper-cased (`["SET", "ROLE"]`); fewer when the
/// statement has fewer before its first non-word token.
pub fn leading_keywords(sql: &str, n: usize) -> Vec<String> {
    tokens(sql)
        .into_iter()
        .take(n)
        .map_while(|t| match t {
            Token::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// The operation and the tables of a statement, as the database span records them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// `db.operation.name`: the statement's first keyword, upper-case (`SELECT`, `INSERT`);
    /// for `WITH ...`, the main statement's (`SELECT`).
    pub operation: Option<String>,
    /// The tables the statement names, in order, each once (`FROM`, `JOIN`, `INTO`,
    /// `UPDATE`, `TABLE`...), schema-qualified as written.
    pub tables: Vec<String>,
}

impl Summary {
    /// Reads the summary of `sql`.
    pub fn of(sql: &str) -> Self {
        let tokens = tokens(sql);
        let mut operation = None;
        let mut tables: Vec<String> = Vec::new();
        let mut depth = 0usize;
        let mut in_with = false;
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth = depth.saturating_sub(1),
                Token::Word(word) => {
                    let upper = word.to_ascii_uppercase();
                    if operation.is_none() && !in_with {
                        if upper == "WITH" {
                            in_with = true;
                        } else {
                            operation = Some(upper.clone());
                        }
                    } else if in_with && depth == 0 && is_main_verb(&upper) {
                        operation = Some(upper.clone());
                        in_with = false;
                    }
                    let names_table = matches!(
                        upper.as_str(),
                        "FROM" | "JOIN" | "INTO" | "UPDATE" | "TABLE"
                    );
                    let after_from = matches!(upper.as_str(), "FROM" | "JOIN");
                    if names_table
                        && let Some((name, next)) = qualified_name(&tokens, i + 1, after_from)
                    {
                        if !tables.contains(&name) && tables.len() < SUMMARY_TARGETS {
                            tables.push(name);
                        }
                        i = next;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Self { operation, tables }
    }

    /// `db.collection.name`: the table, when the statement names exactly one.
    pub fn collection(&self) -> Option<&str> {
        match self.tables.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// `db.query.summary`: the operation followed by the tables (`SELECT sales`), at most
    /// 255 characters; `None` when not even the operation is known.
    pub fn text(&self) -> Option<String> {
        let operation = self.operation.as_ref()?;
        let mut text = operation.clone();
        for table in &self.tables {
            if text.len() + 1 + table.len() > SUMMARY_LIMIT {
                break;
            }
            text.push(' ');
            text.push_str(table);
        }
        Some(text)
    }
}

/// Words that start the main statement after a `WITH` clause.
fn is_main_verb(word: &str) -> bool {
    matches!(
        word,
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "VALUES" | "TABLE"
    )
}

/// Words that never name a table right after `FROM`, `JOIN`...
fn is_reserved_after_from(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().as_str(),
        "SELECT"
            | "LATERAL"
            | "ONLY"
            | "UNNEST"
            | "WHERE"
            | "GROUP"
            | "ORDER"
            | "LIMIT"
            | "VALUES"
            | "DISTINCT"
            | "AS"
            | "ON"
            | "USING"
            | "SET"
            | "DEFAULT"
            | "IF"
            | "NOT"
            | "EXISTS"
    )
}

/// The (possibly schema-qualified) name that starts at token `i`, and the index after it.
/// After `FROM` or `JOIN`, a name followed by `(` is a function call and names no table;
/// after `INTO`, the parenthesis opens a column list.
fn qualified_name(tokens: &[Token<'_>], mut i: usize, after_from: bool) -> Option<(String, usize)> {
    // `FROM ONLY t` / `UPDATE ONLY t`.
    if let Some(Token::Word(w)) = tokens.get(i)
        && w.eq_ignore_ascii_case("ONLY")
    {
        i += 1;
    }
    let mut parts = Vec::new();
    loop {
        match tokens.get(i) {
            Some(Token::Word(w)) if parts.is_empty() && is_reserved_after_from(w) => return None,
            Some(Token::Word(w)) => parts.push((*w).to_owned()),
            Some(Token::Quoted(q)) => parts.push(q.clone()),
            _ => break,
        }
        i += 1;
        // A function call (`FROM generate_series(...)`) names no table.
        if after_from && let Some(Token::Punct('(')) = tokens.get(i) {
            return None;
        }
        if let Some(Token::Punct('.')) = tokens.get(i) {
            i += 1;
            continue;
        }
        break;
    }
    if parts.is_empty() {
        None
    } else {
        Some((parts.join("."), i))
    }
}

/// The statement with a [sqlcommenter](https://google.github.io/sqlcommenter/spec/) comment
/// appended: `SELECT 1 /*traceparent='00-…-…-01',tracestate='…'*/`. Keys are sorted; values
/// are URL-encoded and single-quoted. A trailing `;` moves after the comment. A statement
/// that already holds a comment is left as it is, as the specification says.
pub fn with_comment(sql: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() || sql.contains("/*") {
        return sql.to_owned();
    }
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}='{}'", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join(",");
    let trimmed = sql.trim_end();
    let (statement, semicolon) = match trimmed.strip_suffix(';') {
        Some(rest) => (rest.trim_end(), ";"),
        None => (trimmed, ""),
    };
    // After a `--` comment on the last line, a comment on the same line would be swallowed.
    let separator = if statement
        .rsplit(['\n', '\r'])
        .next()
        .unwrap_or("")
        .contains("--")
    {
        "\n"
    } else {
        " "
    };
    format!("{statement}{separator}/*{body}*/{semicolon}")
}

/// Percent-encodes everything but RFC 3986's unreserved characters, then escapes `'` (which
/// percent-encoding already removed) as sqlcommenter says.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_keywords_skip_comments_and_space() {
        assert_eq!(
            leading_keywords("  -- hi\n/* a /* nested */ b */ set  role x", 2),
            ["SET", "ROLE"]
        );
        assert_eq!(leading_keywords("select 1", 3), ["SELECT"]);
        assert!(leading_keywords("", 1).is_empty());
        assert!(leading_keywords("(select 1)", 1).is_empty());
        assert_eq!(leading_keywords("--x\rDEALLOCATE ALL", 1), ["DEALLOCATE"]);
        assert_eq!(
            leading_keywords("\x0bPREPARE p AS SELECT 1", 1),
            ["PREPARE"]
        );
    }

    #[test]
    fn summaries_name_the_operation_and_tables() {
        let s = Summary::of("SELECT region, SUM(revenue) FROM sales WHERE year = 2024");
        assert_eq!(s.text().as_deref(), Some("SELECT sales"));
        assert_eq!(s.collection(), Some("sales"));

        let s = Summary::of(
            "select * from public.orders o join \"Customers\" c on c.id = o.cid join public.orders x on true",
        );
        assert_eq!(s.text().as_deref(), Some("SELECT public.orders Customers"));
        assert_eq!(s.collection(), None);

        let s = Summary::of("WITH t AS (SELECT * FROM sales) SELECT count(*) FROM t");
        assert_eq!(s.operation.as_deref(), Some("SELECT"));
        assert_eq!(s.tables, ["sales", "t"]);

        let s = Summary::of("INSERT INTO notes (body) VALUES ('from x')");
        assert_eq!(s.text().as_deref(), Some("INSERT notes"));
        let s = Summary::of("update ONLY sales set units = 1");
        assert_eq!(s.text().as_deref(), Some("UPDATE sales"));
        let s = Summary::of("SELECT * FROM generate_series(1, 10)");
        assert_eq!(s.text().as_deref(), Some("SELECT"));
        let s = Summary::of("SELECT 'from nowhere', $$ from x $$");
        assert_eq!(s.text().as_deref(), Some("SELECT"));
        assert_eq!(Summary::of("  ").text(), None);
    }

    #[test]
    fn comments_follow_sqlcommenter() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(
            with_comment("SELECT 1;", &[("traceparent", tp)]),
            format!("SELECT 1 /*traceparent='{tp}'*/;")
        );
        assert_eq!(
            with_comment(
                "SELECT 1",
                &[
                    ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
                    ("traceparent", tp)
                ]
            ),
            format!(
                "SELECT 1 /*traceparent='{tp}',tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"
            )
        );
        assert_eq!(
            with_comment("SELECT 1 -- why", &[("traceparent", tp)]),
            format!("SELECT 1 -- why\n/*traceparent='{tp}'*/")
        );
        assert_eq!(
            with_comment("SELECT /* mine */ 1", &[("traceparent", tp)]),
            "SELECT /* mine */ 1"
        );
        assert_eq!(url_encode("a'b c"), "a%27b%20c");
    }
}
