//! What the server checks of its database role at start, and says on stderr.
//!
//! Read-only is enforced by the transaction, but a role with more rights than reading
//! could still reach past it: a superuser can `COPY ... TO PROGRAM` or read server files,
//! members of `pg_execute_server_program`, `pg_read_server_files` and
//! `pg_write_server_files` can too, and a role that may write the tables it serves is one
//! configuration mistake away from writing them. The server warns about each; the
//! README shows the least-privilege role to create instead.

use super::Target;

const ROLE_CHECK: &str = "SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, \
       pg_catalog.pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'), \
       pg_catalog.pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'), \
       pg_catalog.pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'), \
       (SELECT count(*) FROM pg_catalog.pg_class c \
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') \
           AND n.nspname = ANY (pg_catalog.current_schemas(false)) \
           AND (pg_catalog.has_table_privilege(c.oid, 'INSERT') \
             OR pg_catalog.has_table_privilege(c.oid, 'UPDATE') \
             OR pg_catalog.has_table_privilege(c.oid, 'DELETE') \
             OR pg_catalog.has_table_privilege(c.oid, 'TRUNCATE'))), \
       current_user::text, pg_catalog.current_setting('server_version') \
     FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";

/// What the role check at start found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoleReport {
    /// The role's name.
    pub role: String,
    /// The server's version.
    pub version: String,
    /// One line per right the role should not have.
    pub warnings: Vec<String>,
}

/// Reads what the role may do. `allow_write` leaves out the write privileges (writing is
/// then the point).
pub async fn role_report(
    client: &tokio_postgres::Client,
    allow_write: bool,
) -> Result<RoleReport, tokio_postgres::Error> {
    let row = client.query_one(ROLE_CHECK, &[]).await?;
    let flag = |i: usize| row.try_get::<_, bool>(i).unwrap_or(false);
    let role: String = row.try_get(7).unwrap_or_default();
    let mut warnings = Vec::new();
    if flag(0) {
        warnings.push(format!(
            "role {role} is a superuser: it can run programs and read files on the database server (COPY ... TO PROGRAM, pg_read_file) whatever db-server refuses; connect as a role that can only read (see db-server's README)"
        ));
    }
    for (i, what) in [
        (
            3,
            "pg_execute_server_program (it can run programs on the database server)",
        ),
        (
            4,
            "pg_read_server_files (it can read any file the database server can)",
        ),
        (
            5,
            "pg_write_server_files (it can write files on the database server)",
        ),
    ] {
        if flag(i) && !flag(0) {
            warnings.push(format!("role {role} is a member of {what}"));
        }
    }
    if flag(1) && !flag(0) {
        warnings.push(format!("role {role} bypasses row-level security"));
    }
    let writable: i64 = row.try_get(6).unwrap_or(0);
    if !allow_write && writable > 0 {
        warnings.push(format!(
            "role {role} may write {writable} of the tables it serves (INSERT, UPDATE, DELETE or TRUNCATE): db-server's read-only transactions stop that, but a role that can only SELECT makes it certain (see db-server's README)"
        ));
    }
    Ok(RoleReport {
        role,
        version: row.try_get(8).unwrap_or_default(),
        warnings,
    })
}

/// Logs the [`role_report`] as warnings (stderr), or why it could not be made.
pub(super) async fn warn_about_role(
    client: &tokio_postgres::Client,
    target: &Target,
    allow_write: bool,
) {
    match role_report(client, allow_write).await {
        Ok(report) => {
            tracing::debug!(role = %report.role, version = %report.version, database = %target.redacted(), "connected");
            for warning in report.warnings {
                tracing::warn!("{warning}");
            }
        }
        Err(error) => tracing::warn!(%error, "could not check the database role's privileges"),
    }
}
