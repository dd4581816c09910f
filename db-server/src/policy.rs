//! The statement policy: what a statement may do, independent of MCP.
//!
//! Read-only is enforced by SQLite itself, in layers, so that no single mistake lets a
//! write through:
//!
//! 1. the database file is opened with `SQLITE_OPEN_READ_ONLY` (see [`crate::database`]);
//! 2. `PRAGMA query_only = ON` is set once the start-up scripts have run;
//! 3. the [authorizer](Policy::authorize), consulted by SQLite while it compiles each
//!    statement, denies every action that writes or changes state;
//! 4. after compiling, [`Policy::check_prepared`] refuses any statement for which
//!    `sqlite3_stmt_readonly` says it would write.
//!
//! Some things are refused in every mode, because they reach beyond the one database the
//! server was started on: `ATTACH` and `DETACH` (they open or create arbitrary files; the
//! private temporary database a plain `VACUUM` attaches internally is the one exception),
//! `load_extension()` (native code; extension loading also stays disabled, rusqlite's
//! default), `VACUUM INTO` (writes a new database file anywhere) and
//! `PRAGMA writable_schema` (lets a statement corrupt the schema).
//!
//! # PRAGMAs in read-only mode
//! Only PRAGMAs that read are allowed: the introspection PRAGMAs, whose argument names a
//! table or an index ([`INTROSPECTION_PRAGMAS`]), with or without an argument, and the
//! setting PRAGMAs of [`QUERY_PRAGMAS`] when they are queried without a value. Everything
//! else (any PRAGMA that assigns a value, and any PRAGMA not in these lists) is refused.
//! With `--allow-write`, every PRAGMA except `writable_schema` is allowed.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use rusqlite::{
    Connection, Statement,
    hooks::{AuthAction, AuthContext, Authorization},
};

/// PRAGMAs that only report on the schema; their argument names a table, an index or a
/// schema, so they are allowed with an argument in read-only mode.
pub const INTROSPECTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// Setting PRAGMAs that are allowed in read-only mode only as queries (no `= value`).
pub const QUERY_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "cache_size",
    "data_version",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "journal_mode",
    "page_count",
    "page_size",
    "query_only",
    "schema_version",
    "user_version",
];

/// Why a statement was refused before SQLite ran it: the rule, and what it concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `ATTACH` opens or creates another database file.
    #[error("ATTACH is refused: the server serves one database")]
    Attach,
    /// `DETACH` of any database.
    #[error("DETACH is refused: the server serves one database")]
    Detach,
    /// `load_extension()` runs native code.
    #[error("load_extension() is refused: extension loading is disabled")]
    LoadExtension,
    /// `PRAGMA writable_schema` can corrupt the database.
    #[error("PRAGMA writable_schema is refused: it can corrupt the database")]
    WritableSchema,
    /// A PRAGMA that sets a value, or one not known to only read, on a read-only database.
    #[error("PRAGMA {name}{} is refused: only read-only PRAGMA queries are allowed on a read-only database", if *.with_value { " with a value" } else { "" })]
    Pragma {
        /// The PRAGMA, lower-case.
        name: String,
        /// Whether it was given a value.
        with_value: bool,
    },
    /// An action that writes, on a read-only database (the authorizer's view of it).
    #[error(
        "{action} is refused: the database is read-only (start the server with --allow-write to change it)"
    )]
    ReadOnlyAction {
        /// The action, e.g. `INSERT into sales`.
        action: String,
    },
    /// `VACUUM INTO` writes a new database file anywhere.
    #[error("VACUUM INTO is refused: it writes a database file outside the server's database")]
    VacuumInto,
    /// The compiled statement would write, and the database is read-only.
    #[error(
        "the statement would change the database, which is read-only (start the server with --allow-write to change it)"
    )]
    WouldWrite,
    /// `query_database` got a statement that writes (with `--allow-write`).
    #[error(
        "query_database runs read-only statements; use the execute tool to change the database"
    )]
    QueryWrites,
    /// More than one statement in one call.
    #[error("several statements in one call; send exactly one statement{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    SeveralStatements {
        /// What SQLite said about the rest of the text, if it said anything.
        detail: Option<String>,
    },
    /// A kind of statement this backend refuses whatever the statement says (transaction
    /// control, `COPY`, `SET ROLE`, ...), and why.
    #[error("{statement} is refused: {reason}")]
    Statement {
        /// The statement's leading keywords (`COMMIT`, `SET ROLE`).
        statement: String,
        /// Why the server refuses it.
        reason: &'static str,
    },
}

/// The rules one connection enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Whether writes, DDL and state-changing PRAGMAs are allowed (`--allow-write`).
    pub allow_write: bool,
}

impl Policy {
    /// The read-only policy (the default).
    pub const READ_ONLY: Policy = Policy { allow_write: false };
    /// The policy of `--allow-write`.
    pub const READ_WRITE: Policy = Policy { allow_write: true };

    /// Decides one action SQLite asks about while compiling a statement.
    ///
    /// Returns the decision and, when denied, the reason to show the caller (SQLite's own
    /// message for a denial is only "not authorized").
    /// `in_vacuum` says that the statement being run is a `VACUUM` (see
    /// [`is_vacuum`]), whose own internal `ATTACH` is then allowed in write mode.
    pub fn authorize(
        &self,
        ctx: &AuthContext<'_>,
        in_vacuum: bool,
    ) -> (Authorization, Option<Refusal>) {
        match self.decide(ctx, in_vacuum) {
            Ok(()) => (Authorization::Allow, None),
            Err(reason) => (Authorization::Deny, Some(reason)),
        }
    }

    fn decide(&self, ctx: &AuthContext<'_>, in_vacuum: bool) -> Result<(), Refusal> {
        match ctx.action {
            // VACUUM attaches a private temporary database, named by an empty file name, to
            // build the compacted copy in; that ATTACH creates no file anyone can name, so
            // while a VACUUM runs it is allowed where VACUUM is (with --allow-write). Any
            // other ATTACH, and the one behind VACUUM INTO (named by its target), is refused.
            AuthAction::Attach { filename }
                if filename.is_empty() && self.allow_write && in_vacuum =>
            {
                Ok(())
            }
            AuthAction::Attach { .. } => Err(Refusal::Attach),
            AuthAction::Detach { .. } => Err(Refusal::Detach),
            AuthAction::Function { function_name } => {
                if function_name.eq_ignore_ascii_case("load_extension") {
                    Err(Refusal::LoadExtension)
                } else {
                    Ok(())
                }
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value,
            } => self.decide_pragma(pragma_name, pragma_value),
            // Reading, and the bookkeeping SQLite does to read, is always fine.
            AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => Ok(()),
            _ if self.allow_write => Ok(()),
            action => Err(Refusal::ReadOnlyAction {
                action: describe(&action),
            }),
        }
    }

    fn decide_pragma(&self, name: &str, value: Option<&str>) -> Result<(), Refusal> {
        let name = name.to_ascii_lowercase();
        if name == "writable_schema" {
            return Err(Refusal::WritableSchema);
        }
        if self.allow_write || INTROSPECTION_PRAGMAS.contains(&name.as_str()) {
            return Ok(());
        }
        if value.is_none() && QUERY_PRAGMAS.contains(&name.as_str()) {
            return Ok(());
        }
        Err(Refusal::Pragma {
            name,
            with_value: value.is_some(),
        })
    }

    /// Checks the text of a statement for what the authorizer cannot see.
    ///
    /// SQLite consults no authorizer for `VACUUM`, so `VACUUM INTO`, which writes a new
    /// database file at any path, is recognised from its keywords here (outside strings,
    /// quoted identifiers and comments) and refused in every mode.
    pub fn check_text(&self, sql: &str) -> Result<(), Refusal> {
        let mut words = keywords(sql);
        if words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("vacuum"))
            && words.any(|w| w.eq_ignore_ascii_case("into"))
        {
            return Err(Refusal::VacuumInto);
        }
        Ok(())
    }

    /// Checks a compiled statement: in read-only mode (or when `require_read_only` is
    /// set, as for the `query_database` tool) it must not write, as
    /// `sqlite3_stmt_readonly` reports.
    pub fn check_prepared(
        &self,
        stmt: &Statement<'_>,
        require_read_only: bool,
    ) -> Result<(), Refusal> {
        if stmt.readonly() {
            return Ok(());
        }
        if !self.allow_write {
            Err(Refusal::WouldWrite)
        } else if require_read_only {
            Err(Refusal::QueryWrites)
        } else {
            Ok(())
        }
    }
}

/// The authorizer installed on a connection (layer 3), and what it knows between
/// statements: whether the running statement is a `VACUUM`, and the reason of its
/// denial, for a clearer message than SQLite's "not authorized".
#[derive(Debug, Default)]
pub(crate) struct Authorizer {
    denial: Arc<Mutex<Option<Refusal>>>,
    in_vacuum: Arc<AtomicBool>,
}

impl Authorizer {
    /// Installs `policy`'s authorizer on `conn`.
    pub(crate) fn install(conn: &mut Connection, policy: Policy) -> rusqlite::Result<Self> {
        let state = Self::default();
        let reasons = Arc::clone(&state.denial);
        let vacuuming = Arc::clone(&state.in_vacuum);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            let (decision, reason) = policy.authorize(&ctx, vacuuming.load(Ordering::Relaxed));
            if let Some(reason) = reason {
                *reasons.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
            }
            decision
        }))?;
        Ok(state)
    }

    /// Prepares for compiling `sql`: forgets the last denial and notes whether it is a
    /// `VACUUM`.
    pub(crate) fn begin(&self, sql: &str) {
        *self.denial.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.in_vacuum.store(is_vacuum(sql), Ordering::Relaxed);
    }

    /// The reason of the denial that failed the statement, if the authorizer denied it.
    pub(crate) fn take_denial(&self) -> Option<Refusal> {
        self.denial.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A short name for an action in a refusal message.
/// Whether `refusal` is a write to SQLite's schema table, which is how SQLite sees DDL (it
/// checks that write first, and stops there).
pub(crate) fn is_schema_bookkeeping(refusal: &Refusal) -> bool {
    matches!(refusal, Refusal::ReadOnlyAction { action }
        if ["sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"]
            .iter()
            .any(|table| action.ends_with(&format!(" {table}"))))
}

fn describe(action: &AuthAction<'_>) -> String {
    match action {
        AuthAction::Insert { table_name } => format!("INSERT into {table_name}"),
        AuthAction::Update { table_name, .. } => format!("UPDATE of {table_name}"),
        AuthAction::Delete { table_name } => format!("DELETE from {table_name}"),
        AuthAction::CreateTable { table_name } | AuthAction::CreateTempTable { table_name } => {
            format!("CREATE TABLE {table_name}")
        }
        AuthAction::DropTable { table_name } | AuthAction::DropTempTable { table_name } => {
            format!("DROP TABLE {table_name}")
        }
        AuthAction::AlterTable { table_name, .. } => format!("ALTER TABLE {table_name}"),
        AuthAction::CreateIndex { .. } | AuthAction::CreateTempIndex { .. } => {
            "CREATE INDEX".into()
        }
        AuthAction::DropIndex { .. } | AuthAction::DropTempIndex { .. } => "DROP INDEX".into(),
        AuthAction::CreateView { .. } | AuthAction::CreateTempView { .. } => "CREATE VIEW".into(),
        AuthAction::DropView { .. } | AuthAction::DropTempView { .. } => "DROP VIEW".into(),
        AuthAction::CreateTrigger { .. } | AuthAction::CreateTempTrigger { .. } => {
            "CREATE TRIGGER".into()
        }
        AuthAction::DropTrigger { .. } | AuthAction::DropTempTrigger { .. } => {
            "DROP TRIGGER".into()
        }
        AuthAction::CreateVtable { .. } => "CREATE VIRTUAL TABLE".into(),
        AuthAction::DropVtable { .. } => "DROP of a virtual table".into(),
        AuthAction::Transaction { .. } => "a transaction statement".into(),
        AuthAction::Savepoint { .. } => "a savepoint statement".into(),
        AuthAction::Reindex { .. } => "REINDEX".into(),
        AuthAction::Analyze { .. } => "ANALYZE".into(),
        other => format!("{other:?}"),
    }
}

/// One lexical token of SQL, as far as the policy needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A bare word: a keyword or an unquoted identifier.
    Word(&'a str),
    /// A statement separator.
    Semicolon,
    /// Anything else: a literal, a quoted identifier, an operator.
    Other,
}

/// The tokens of `sql` in order, skipping comments and whitespace, so that a keyword
/// inside a comment, a string literal or a quoted identifier is never taken for one
/// outside.
fn tokens(sql: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    i += 2;
                    while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/'))
                    {
                        i += 1;
                    }
                    i += 2;
                }
                b'\'' | b'"' | b'`' | b'[' => {
                    let close = if c == b'[' { b']' } else { c };
                    i += 1;
                    while i < bytes.len() && bytes[i] != close {
                        i += 1;
                    }
                    i += 1;
                    return Some(Token::Other);
                }
                b';' => {
                    i += 1;
                    return Some(Token::Semicolon);
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                    return Some(Token::Word(&sql[start..i]));
                }
                c if c.is_ascii_whitespace() => i += 1,
                _ => {
                    i += 1;
                    return Some(Token::Other);
                }
            }
        }
        None
    })
}

/// The bare words of `sql` in order (see [`tokens`]).
fn keywords(sql: &str) -> impl Iterator<Item = &str> {
    tokens(sql).filter_map(|t| match t {
        Token::Word(w) => Some(w),
        _ => None,
    })
}

/// Whether the statement `sql` is a `VACUUM`.
pub fn is_vacuum(sql: &str) -> bool {
    keywords(sql)
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("vacuum"))
}

/// Whether `sql` has something after its first `;` other than comments, whitespace and
/// more semicolons: a second statement.
///
/// This is a lexical view, used only to explain an error: SQLite itself decides where a
/// statement ends (a `CREATE TRIGGER` body holds semicolons of its own), and the database
/// refuses a second statement whatever this says.
pub fn has_several_statements(sql: &str) -> bool {
    tokens(sql)
        .skip_while(|t| *t != Token::Semicolon)
        .any(|t| t != Token::Semicolon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_skip_comments_strings_and_quoted_identifiers() {
        let words: Vec<_> =
            keywords("VACUUM /* into */ -- INTO\n 'into' \"into\" [into] `into` main").collect();
        assert_eq!(words, ["VACUUM", "main"]);
    }

    #[test]
    fn several_statements_are_seen_past_comments_and_strings() {
        assert!(has_several_statements("SELECT 1; DROP TABLE sales"));
        assert!(has_several_statements("SELECT 1 /* */; DELETE FROM sales"));
        assert!(!has_several_statements("SELECT 1;"));
        assert!(!has_several_statements("SELECT 1; -- trailing comment\n ;"));
        assert!(!has_several_statements("SELECT ';DROP TABLE x' /* ; x */"));
    }

    #[test]
    fn vacuum_into_is_refused_in_every_mode() {
        for policy in [Policy::READ_ONLY, Policy::READ_WRITE] {
            assert!(policy.check_text("VACUUM INTO '/tmp/copy.db'").is_err());
            assert!(policy.check_text("  vacuum main into 'x'").is_err());
            assert!(policy.check_text("VACUUM").is_ok());
            assert!(policy.check_text("SELECT 'VACUUM INTO'").is_ok());
        }
    }
}
