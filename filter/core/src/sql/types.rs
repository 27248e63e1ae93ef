//! The vocabulary of SQL inspection: statement and query types, names, the session
//! defaults names are resolved against, and the result of an analysis.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable UPPER_SNAKE form used in config, logs and headers.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or(())
            }
        }
    };
}

string_enum! {
    /// What the statement is, finer than Trino's resource-group query type.
    StatementType {
        Select => "SELECT",
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Merge => "MERGE",
        CreateTable => "CREATE_TABLE",
        CreateTableAsSelect => "CREATE_TABLE_AS_SELECT",
        DropTable => "DROP_TABLE",
        AlterTable => "ALTER_TABLE",
        AlterTableExecute => "ALTER_TABLE_EXECUTE",
        CreateSchema => "CREATE_SCHEMA",
        DropSchema => "DROP_SCHEMA",
        AlterSchema => "ALTER_SCHEMA",
        CreateView => "CREATE_VIEW",
        DropView => "DROP_VIEW",
        AlterView => "ALTER_VIEW",
        CreateMaterializedView => "CREATE_MATERIALIZED_VIEW",
        DropMaterializedView => "DROP_MATERIALIZED_VIEW",
        AlterMaterializedView => "ALTER_MATERIALIZED_VIEW",
        RefreshMaterializedView => "REFRESH_MATERIALIZED_VIEW",
        CreateCatalog => "CREATE_CATALOG",
        DropCatalog => "DROP_CATALOG",
        AlterCatalog => "ALTER_CATALOG",
        CreateFunction => "CREATE_FUNCTION",
        DropFunction => "DROP_FUNCTION",
        CreateRole => "CREATE_ROLE",
        DropRole => "DROP_ROLE",
        CreateBranch => "CREATE_BRANCH",
        DropBranch => "DROP_BRANCH",
        AlterBranch => "ALTER_BRANCH",
        Truncate => "TRUNCATE",
        Comment => "COMMENT",
        Analyze => "ANALYZE",
        ShowTables => "SHOW_TABLES",
        ShowSchemas => "SHOW_SCHEMAS",
        ShowCatalogs => "SHOW_CATALOGS",
        ShowColumns => "SHOW_COLUMNS",
        ShowCreateTable => "SHOW_CREATE_TABLE",
        ShowCreateView => "SHOW_CREATE_VIEW",
        ShowCreateMaterializedView => "SHOW_CREATE_MATERIALIZED_VIEW",
        ShowCreateSchema => "SHOW_CREATE_SCHEMA",
        ShowCreateFunction => "SHOW_CREATE_FUNCTION",
        ShowFunctions => "SHOW_FUNCTIONS",
        ShowSession => "SHOW_SESSION",
        ShowStats => "SHOW_STATS",
        ShowGrants => "SHOW_GRANTS",
        ShowRoles => "SHOW_ROLES",
        ShowRoleGrants => "SHOW_ROLE_GRANTS",
        ShowBranches => "SHOW_BRANCHES",
        Describe => "DESCRIBE",
        DescribeInput => "DESCRIBE_INPUT",
        DescribeOutput => "DESCRIBE_OUTPUT",
        Explain => "EXPLAIN",
        ExplainAnalyze => "EXPLAIN_ANALYZE",
        Call => "CALL",
        Prepare => "PREPARE",
        Deallocate => "DEALLOCATE",
        Execute => "EXECUTE",
        ExecuteImmediate => "EXECUTE_IMMEDIATE",
        SetSession => "SET_SESSION",
        ResetSession => "RESET_SESSION",
        SetRole => "SET_ROLE",
        SetPath => "SET_PATH",
        SetTimeZone => "SET_TIME_ZONE",
        SetSessionAuthorization => "SET_SESSION_AUTHORIZATION",
        ResetSessionAuthorization => "RESET_SESSION_AUTHORIZATION",
        Use => "USE",
        Grant => "GRANT",
        Revoke => "REVOKE",
        Deny => "DENY",
        StartTransaction => "START_TRANSACTION",
        Commit => "COMMIT",
        Rollback => "ROLLBACK",
        Unknown => "UNKNOWN",
    }
}

string_enum! {
    /// Trino's resource-group query type (`io.trino.spi.resourcegroups.QueryType`).
    QueryType {
        Select => "SELECT",
        Explain => "EXPLAIN",
        Describe => "DESCRIBE",
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Merge => "MERGE",
        Analyze => "ANALYZE",
        DataDefinition => "DATA_DEFINITION",
        AlterTableExecute => "ALTER_TABLE_EXECUTE",
    }
}

impl StatementType {
    /// The query type Trino's `StatementUtils` gives this statement on its own.
    /// `None` for EXPLAIN ANALYZE, EXECUTE and EXECUTE IMMEDIATE, whose type is the one
    /// of the statement they run (the analysis fills it in), and for UNKNOWN.
    pub fn query_type(self) -> Option<QueryType> {
        use StatementType as S;
        Some(match self {
            S::Select => QueryType::Select,
            S::Explain => QueryType::Explain,
            S::Insert | S::CreateTableAsSelect | S::RefreshMaterializedView => QueryType::Insert,
            S::Update => QueryType::Update,
            S::Delete => QueryType::Delete,
            S::Merge => QueryType::Merge,
            S::Analyze => QueryType::Analyze,
            S::AlterTableExecute => QueryType::AlterTableExecute,
            S::Describe | S::DescribeInput | S::DescribeOutput => QueryType::Describe,
            S::ShowTables | S::ShowSchemas | S::ShowCatalogs | S::ShowColumns => QueryType::Describe,
            S::ShowCreateTable | S::ShowCreateView | S::ShowCreateMaterializedView => QueryType::Describe,
            S::ShowCreateSchema | S::ShowCreateFunction | S::ShowFunctions => QueryType::Describe,
            S::ShowSession | S::ShowStats | S::ShowGrants | S::ShowRoles => QueryType::Describe,
            S::ShowRoleGrants | S::ShowBranches => QueryType::Describe,
            S::ExplainAnalyze | S::Execute | S::ExecuteImmediate | S::Unknown => return None,
            _ => QueryType::DataDefinition,
        })
    }
}

/// How a statement uses a table. When a table is used several ways the strongest
/// is kept: `Write` over `Read` over `Metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// Only its definition, stats or grants are looked at or granted
    /// (DESCRIBE, SHOW ..., GRANT ... ON, LIKE in CREATE TABLE, anything under plain EXPLAIN).
    Metadata,
    /// Its rows are read.
    Read,
    /// Its rows, definition or statistics change (DML targets, DDL, ANALYZE, COMMENT).
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Metadata => "metadata",
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// A table, view or materialized view.
    Relation,
    /// A polymorphic table function, `TABLE(c.s.fn(...))`.
    TableFunction,
}

/// `catalog.schema.name`. A part is `None` when the statement left it out and the
/// session has no default for it: such a name is unresolved, and is rendered with an
/// empty component (`.tiny.orders`), which no real identifier can be.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    pub fn is_resolved(&self) -> bool {
        self.catalog.is_some() && self.schema.is_some()
    }

    /// `catalog.schema.name`, or `None` when a part is unknown.
    pub fn resolved(&self) -> Option<String> {
        match (&self.catalog, &self.schema) {
            (Some(c), Some(s)) => Some(format!("{c}.{s}.{}", self.name)),
            _ => None,
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.catalog.as_deref().unwrap_or("");
        let s = self.schema.as_deref().unwrap_or("");
        write!(f, "{c}.{s}.{}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub name: QualifiedName,
    pub access: Access,
    pub kind: TableKind,
}

/// What the router knows of the session the statement runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionContext {
    /// `X-Trino-Catalog`, as sent.
    pub catalog: Option<String>,
    /// `X-Trino-Schema`, as sent.
    pub schema: Option<String>,
    /// Prepared statements from `X-Trino-Prepared-Statement`, name to SQL.
    pub prepared: BTreeMap<String, String>,
}

impl SessionContext {
    /// Blank header values count as absent, as in Trino.
    pub fn new(catalog: Option<&str>, schema: Option<&str>) -> Self {
        let clean = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        SessionContext { catalog: clean(catalog), schema: clean(schema), prepared: BTreeMap::new() }
    }

    pub fn with_prepared(mut self, statements: impl IntoIterator<Item = (String, String)>) -> Self {
        self.prepared.extend(statements);
        self
    }

    /// Trino looks prepared statements up by the name exactly as written; a
    /// case-insensitive match is accepted as a fallback since it cannot mislead.
    pub fn prepared_sql(&self, name: &str) -> Option<&str> {
        if let Some(sql) = self.prepared.get(name) {
            return Some(sql);
        }
        let wanted = name.to_lowercase();
        self.prepared.iter().find(|(k, _)| k.to_lowercase() == wanted).map(|(_, v)| v.as_str())
    }
}

/// The result of analysing one statement. With `Names::Skip` only the statement-level
/// facts are filled in: `tables`, `catalogs`, `schemas` are empty, `unresolved` is false,
/// `procedure` and `prepared_name` are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub statement_type: StatementType,
    /// Trino's resource-group query type; for EXECUTE, EXECUTE IMMEDIATE and
    /// EXPLAIN ANALYZE it is the one of the statement run.
    pub query_type: Option<QueryType>,
    /// The statement behind EXPLAIN, EXPLAIN ANALYZE, EXECUTE, EXECUTE IMMEDIATE,
    /// PREPARE, DESCRIBE INPUT and DESCRIBE OUTPUT.
    pub inner_statement_type: Option<StatementType>,
    /// Tables used, sorted by name, each once.
    pub tables: Vec<TableRef>,
    /// Catalogs touched, sorted.
    pub catalogs: Vec<String>,
    /// Schemas touched as `catalog.schema`, sorted.
    pub schemas: Vec<String>,
    /// Some name lacked a catalog or schema and the session had no default for it.
    pub unresolved: bool,
    /// The procedure of a CALL, resolved like a table name.
    pub procedure: Option<QualifiedName>,
    /// The query id of a `CALL system.runtime.kill_query(...)`.
    pub kill_query_id: Option<String>,
    /// The name used by EXECUTE, PREPARE, DEALLOCATE PREPARE or DESCRIBE INPUT/OUTPUT.
    pub prepared_name: Option<String>,
    /// EXECUTE or DESCRIBE INPUT/OUTPUT named a statement the session does not have.
    pub prepared_missing: bool,
}

impl Analysis {
    /// Fully resolved `catalog.schema.table` names, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().filter_map(|t| t.name.resolved()).collect()
    }

    /// Whether any table is written.
    pub fn writes(&self) -> bool {
        self.tables.iter().any(|t| t.access == Access::Write)
    }
}
