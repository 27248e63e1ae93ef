//! Gathers what a statement touches while it is read, resolving names against the
//! session defaults, and turns it into an `Analysis` at the end.

use std::collections::{BTreeMap, BTreeSet};

use super::cursor::Ident;
use super::error::SqlError;
use super::types::{Access, Analysis, QualifiedName, QueryType, SessionContext, StatementType, TableKind, TableRef};

/// A cap on distinct tables keeps memory bounded on generated SQL; over it the
/// analysis fails rather than silently dropping tables a rule might be about.
pub const MAX_TABLES: usize = 1000;

/// How things found in the statement are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    /// Under plain EXPLAIN: nothing runs, tables are only planned against.
    Explain,
    /// Under PREPARE: the statement is stored, not run, so it touches nothing.
    Silent,
}

/// The statement-level facts found by the statement readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub statement_type: StatementType,
    pub query_type: Option<QueryType>,
    pub inner: Option<StatementType>,
}

impl Outcome {
    pub fn of(statement_type: StatementType) -> Self {
        Outcome { statement_type, query_type: statement_type.query_type(), inner: None }
    }
}

pub(crate) struct Collector<'c> {
    pub ctx: &'c SessionContext,
    pub mode: Mode,
    tables: BTreeMap<QualifiedName, (Access, TableKind)>,
    catalogs: BTreeSet<String>,
    schemas: BTreeSet<String>,
    unresolved: bool,
    procedure: Option<QualifiedName>,
    kill_query_id: Option<String>,
    prepared_name: Option<String>,
    prepared_missing: bool,
}

impl<'c> Collector<'c> {
    pub fn new(ctx: &'c SessionContext) -> Self {
        Collector {
            ctx,
            mode: Mode::Normal,
            tables: BTreeMap::new(),
            catalogs: BTreeSet::new(),
            schemas: BTreeSet::new(),
            unresolved: false,
            procedure: None,
            kill_query_id: None,
            prepared_name: None,
            prepared_missing: false,
        }
    }

    /// Resolves a table-like name: missing leading parts come from the session.
    pub fn resolve(&self, parts: &[Ident]) -> Result<QualifiedName, SqlError> {
        let base =
            QualifiedName { catalog: self.ctx.catalog.clone(), schema: self.ctx.schema.clone(), name: String::new() };
        resolve_against(parts, &base)
    }

    /// Resolves, records and returns a table name.
    pub fn table(&mut self, parts: &[Ident], access: Access) -> Result<QualifiedName, SqlError> {
        let name = self.resolve(parts)?;
        self.record(name.clone(), access, TableKind::Relation)?;
        Ok(name)
    }

    /// The target of a RENAME TO takes its missing parts from the source, as in Trino.
    pub fn rename_target(&mut self, parts: &[Ident], source: &QualifiedName) -> Result<(), SqlError> {
        let name = resolve_against(parts, source)?;
        self.record(name, Access::Write, TableKind::Relation)
    }

    pub fn record(&mut self, name: QualifiedName, access: Access, kind: TableKind) -> Result<(), SqlError> {
        let access = match self.mode {
            Mode::Silent => return Ok(()),
            Mode::Explain => Access::Metadata,
            Mode::Normal => access,
        };
        self.note_schema(name.catalog.as_deref(), name.schema.as_deref());
        if let Some(entry) = self.tables.get_mut(&name) {
            entry.0 = entry.0.max(access);
            return Ok(());
        }
        if self.tables.len() >= MAX_TABLES {
            return Err(SqlError::TooManyTables { limit: MAX_TABLES });
        }
        self.tables.insert(name, (access, kind));
        Ok(())
    }

    /// `s` is a schema of the default catalog, `c.s` a schema of `c`.
    pub fn schema(&mut self, parts: &[Ident]) -> Result<(), SqlError> {
        match parts {
            [s] => {
                let catalog = self.ctx.catalog.clone();
                self.note_schema(catalog.as_deref(), Some(s.value));
            }
            [c, s] => self.note_schema(Some(c.value), Some(s.value)),
            [c, _, _, ..] => return Err(SqlError::NameTooLong { pos: c.pos }),
            [] => self.unresolved_name(),
        }
        Ok(())
    }

    /// The session's schema, for statements that default to it (SHOW TABLES).
    pub fn default_schema(&mut self) {
        let (c, s) = (self.ctx.catalog.clone(), self.ctx.schema.clone());
        self.note_schema(c.as_deref(), s.as_deref());
    }

    pub fn catalog(&mut self, name: &str) {
        self.note_catalog(Some(name));
    }

    /// The session's catalog, for statements that default to it (SHOW SCHEMAS).
    pub fn default_catalog(&mut self) {
        let c = self.ctx.catalog.clone();
        self.note_catalog(c.as_deref());
    }

    fn unresolved_name(&mut self) {
        if self.mode != Mode::Silent {
            self.unresolved = true;
        }
    }

    fn note_catalog(&mut self, catalog: Option<&str>) {
        if self.mode == Mode::Silent {
            return;
        }
        match catalog {
            Some(c) if !self.catalogs.contains(c) => {
                self.catalogs.insert(c.to_string());
            }
            Some(_) => {}
            None => self.unresolved = true,
        }
    }

    /// Records the catalog and the schema; a part that is unknown marks the analysis
    /// unresolved instead of being guessed.
    fn note_schema(&mut self, catalog: Option<&str>, schema: Option<&str>) {
        if self.mode == Mode::Silent {
            return;
        }
        self.note_catalog(catalog);
        match (catalog, schema) {
            (Some(c), Some(s)) => {
                self.schemas.insert(format!("{c}.{s}"));
            }
            _ => self.unresolved = true,
        }
    }

    pub fn set_procedure(&mut self, name: QualifiedName, kill_query_id: Option<String>) {
        if self.mode == Mode::Silent {
            return;
        }
        self.note_schema(name.catalog.as_deref(), name.schema.as_deref());
        if self.procedure.is_none() {
            self.procedure = Some(name);
        }
        if self.mode == Mode::Normal && self.kill_query_id.is_none() {
            self.kill_query_id = kill_query_id;
        }
    }

    pub fn set_prepared(&mut self, name: &str, missing: bool) {
        if self.mode == Mode::Silent {
            return;
        }
        if self.prepared_name.is_none() {
            self.prepared_name = Some(name.to_string());
        }
        self.prepared_missing |= missing;
    }

    pub fn finish(self, outcome: Outcome) -> Analysis {
        let unresolved = self.unresolved || self.tables.keys().any(|n| !n.is_resolved());
        Analysis {
            statement_type: outcome.statement_type,
            query_type: outcome.query_type,
            inner_statement_type: outcome.inner,
            tables: self.tables.into_iter().map(|(name, (access, kind))| TableRef { name, access, kind }).collect(),
            catalogs: self.catalogs.into_iter().collect(),
            schemas: self.schemas.into_iter().collect(),
            unresolved,
            procedure: self.procedure,
            kill_query_id: self.kill_query_id,
            prepared_name: self.prepared_name,
            prepared_missing: self.prepared_missing,
        }
    }
}

/// Fills the parts `parts` leaves out from `base`, keeping `base`'s gaps as gaps.
pub(crate) fn resolve_against(parts: &[Ident], base: &QualifiedName) -> Result<QualifiedName, SqlError> {
    let (catalog, schema, name) = match parts {
        [t] => (base.catalog.clone(), base.schema.clone(), t),
        [s, t] => (base.catalog.clone(), Some(s.value.to_string()), t),
        [c, s, t] => (Some(c.value.to_string()), Some(s.value.to_string()), t),
        [first, ..] => return Err(SqlError::NameTooLong { pos: first.pos }),
        [] => return Err(SqlError::Syntax { pos: 0, expected: "a name" }),
    };
    Ok(QualifiedName { catalog, schema, name: name.value.to_string() })
}
