//! Gathers what a statement touches while it is read, resolving names against the
//! session defaults, and turns it into an `Analysis` at the end. With `Names::Skip` it
//! keeps only the statement-level facts: names are checked for shape, never copied.

use std::collections::{BTreeMap, BTreeSet};

use super::cursor::Ident;
use super::error::SqlError;
use super::types::{Access, Analysis, QualifiedName, QueryType, SessionContext, StatementType, TableKind, TableRef};
use super::Names;

/// A cap on distinct tables keeps memory bounded on generated SQL; over it the
/// analysis fails rather than silently dropping tables a rule might be about. With
/// `Names::Skip` nothing is kept, so the cap does not apply.
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
    names: Names,
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
    pub fn new(ctx: &'c SessionContext, names: Names) -> Self {
        Collector {
            ctx,
            mode: Mode::Normal,
            names,
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

    /// Whether names are kept: under PREPARE nothing is, and with `Names::Skip` never.
    pub fn keeps_names(&self) -> bool {
        self.names == Names::Keep && self.mode != Mode::Silent
    }

    /// Resolves a table-like name against the session without copying anything: missing
    /// leading parts come from the session. Fails on a name of more than three parts at
    /// every depth, so `Names::Skip` rejects what `Names::Keep` rejects.
    pub fn resolve<'a>(&self, parts: &[Ident<'a>]) -> Result<NameRef<'a>, SqlError>
    where
        'c: 'a,
    {
        let ctx: &'c SessionContext = self.ctx;
        let base = NameRef { catalog: ctx.catalog.as_deref(), schema: ctx.schema.as_deref(), name: "" };
        resolve_against(parts, base)
    }

    /// Resolves and records a table name.
    pub fn table(&mut self, parts: &[Ident], access: Access) -> Result<(), SqlError> {
        let name = self.resolve(parts)?;
        self.record(name, access, TableKind::Relation)
    }

    /// The target of a RENAME TO takes its missing parts from the source, as in Trino.
    pub fn rename_target(&mut self, parts: &[Ident], source: &[Ident]) -> Result<(), SqlError> {
        let source = self.resolve(source)?;
        let name = resolve_against(parts, source)?;
        self.record(name, Access::Write, TableKind::Relation)
    }

    pub fn record(&mut self, name: NameRef<'_>, access: Access, kind: TableKind) -> Result<(), SqlError> {
        if !self.keeps_names() {
            return Ok(());
        }
        let access = if self.mode == Mode::Explain { Access::Metadata } else { access };
        self.note_schema(name.catalog, name.schema);
        let name = name.to_owned();
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
                let ctx: &'c SessionContext = self.ctx;
                self.note_schema(ctx.catalog.as_deref(), Some(s.value));
            }
            [c, s] => self.note_schema(Some(c.value), Some(s.value)),
            [c, _, _, ..] => return Err(SqlError::NameTooLong { pos: c.pos }),
            [] => self.unresolved_name(),
        }
        Ok(())
    }

    /// The session's schema, for statements that default to it (SHOW TABLES).
    pub fn default_schema(&mut self) {
        let ctx: &'c SessionContext = self.ctx;
        self.note_schema(ctx.catalog.as_deref(), ctx.schema.as_deref());
    }

    pub fn catalog(&mut self, name: &str) {
        self.note_catalog(Some(name));
    }

    /// The session's catalog, for statements that default to it (SHOW SCHEMAS).
    pub fn default_catalog(&mut self) {
        let ctx: &'c SessionContext = self.ctx;
        self.note_catalog(ctx.catalog.as_deref());
    }

    fn unresolved_name(&mut self) {
        if self.keeps_names() {
            self.unresolved = true;
        }
    }

    fn note_catalog(&mut self, catalog: Option<&str>) {
        if !self.keeps_names() {
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
        if !self.keeps_names() {
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

    /// The procedure of a CALL; `kill_query_id` is kept at every depth (routing needs it).
    pub fn set_procedure(&mut self, name: NameRef<'_>, kill_query_id: Option<String>) {
        if self.mode == Mode::Silent {
            return;
        }
        if self.keeps_names() {
            self.note_schema(name.catalog, name.schema);
            if self.procedure.is_none() {
                self.procedure = Some(name.to_owned());
            }
        }
        if self.mode == Mode::Normal && self.kill_query_id.is_none() {
            self.kill_query_id = kill_query_id;
        }
    }

    pub fn set_prepared(&mut self, name: &str, missing: bool) {
        if self.mode == Mode::Silent {
            return;
        }
        if self.names == Names::Keep && self.prepared_name.is_none() {
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

/// A name resolved against the session or another name, borrowed from the statement and
/// the session: only a name that is kept is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameRef<'a> {
    pub catalog: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub name: &'a str,
}

impl NameRef<'_> {
    pub fn to_owned(self) -> QualifiedName {
        QualifiedName {
            catalog: self.catalog.map(String::from),
            schema: self.schema.map(String::from),
            name: self.name.to_string(),
        }
    }
}

/// Fills the parts `parts` leaves out from `base`, keeping `base`'s gaps as gaps.
pub(crate) fn resolve_against<'a>(parts: &[Ident<'a>], base: NameRef<'a>) -> Result<NameRef<'a>, SqlError> {
    let (catalog, schema, name) = match parts {
        [t] => (base.catalog, base.schema, t),
        [s, t] => (base.catalog, Some(s.value), t),
        [c, s, t] => (Some(c.value), Some(s.value), t),
        [first, ..] => return Err(SqlError::NameTooLong { pos: first.pos }),
        [] => return Err(SqlError::Syntax { pos: 0, expected: "a name" }),
    };
    Ok(NameRef { catalog, schema, name: name.value })
}
