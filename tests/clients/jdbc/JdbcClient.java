// Drives the unmodified Trino JDBC driver for tests/harness/clients/: one connection per process.
// Reads one JSON command per stdin line and answers with one JSON object per stdout line.

import io.trino.jdbc.TrinoResultSet;
import io.trino.jdbc.TrinoStatement;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class JdbcClient {
    private final PrintStream out;
    private Connection connection;
    private Running running;  // the statement started with "start", until "finish" or "cancel" ends it

    private JdbcClient(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        // Protocol lines only on stdout; the driver's own logging goes to stderr.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        new JdbcClient(out).serve(in);
        out.flush();
        // The driver's HTTP clients keep non-daemon threads alive for a minute after their last
        // request (the spooled-segment downloader's, for one): without this the JVM would wait
        // for them before exiting.
        System.exit(0);
    }

    private void serve(BufferedReader in) throws Exception {
        String line = in.readLine();
        if (line == null) {
            return;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) Json.parse(line);
        try {
            connection = connect(config);
        }
        catch (SQLException e) {
            reply(Map.of("type", "fatal", "error", describe(e)));
            return;
        }
        while ((line = in.readLine()) != null) {
            @SuppressWarnings("unchecked")
            Map<String, Object> command = (Map<String, Object>) Json.parse(line);
            String op = (String) command.get("op");
            if (op.equals("close")) {
                break;
            }
            reply(handle(op, command));
        }
        reply(close());
    }

    private static Connection connect(Map<String, Object> config) throws SQLException {
        String server = (String) config.get("server");  // http://host:port
        String url = "jdbc:trino://" + server.replaceFirst("^https?://", "").replaceAll("/+$", "");
        Properties props = new Properties();
        props.setProperty("user", (String) config.get("user"));
        props.setProperty("SSL", Boolean.toString(server.startsWith("https://")));
        putIfSet(props, "source", config.get("source"));
        putIfSet(props, "catalog", config.get("catalog"));
        putIfSet(props, "schema", config.get("schema"));
        putIfSet(props, "encoding", config.get("encoding"));
        List<?> tags = (List<?>) config.get("client_tags");
        if (tags != null && !tags.isEmpty()) {
            props.setProperty("clientTags", String.join(",", stringList(tags)));
        }
        Map<?, ?> session = (Map<?, ?>) config.get("session_properties");
        if (session != null && !session.isEmpty()) {
            List<String> pairs = new ArrayList<>();
            session.forEach((k, v) -> pairs.add(k + ":" + v));
            props.setProperty("sessionProperties", String.join(";", pairs));
        }
        if (Boolean.FALSE.equals(config.get("compression"))) {
            props.setProperty("disableCompression", "true");
        }
        Connection connection = DriverManager.getConnection(url, props);
        // The driver starts the transaction (START TRANSACTION) on the first statement after this.
        connection.setAutoCommit(!Boolean.FALSE.equals(config.get("autocommit")));
        return connection;
    }

    private Map<String, Object> handle(String op, Map<String, Object> command) {
        try {
            switch (op) {
                case "run":
                    return run((String) command.get("sql"), (List<?>) command.get("params"));
                case "start":
                    return start((String) command.get("sql"));
                case "fetch":
                    return fetch(((Number) command.get("max_rows")).intValue());
                case "finish":
                    return finish();
                case "cancel":
                    return cancel();
                case "cancel_when_queued":
                    return cancelWhenQueued((String) command.get("sql"), (String) command.get("id_prefix"),
                            ((Number) command.get("timeout_ms")).longValue());
                default:
                    return Map.of("type", "fatal", "error", "unknown op " + op);
            }
        }
        catch (Exception e) {
            return Map.of("type", "fatal", "error", e.toString());
        }
    }

    /** Runs one statement to the end and describes its outcome. */
    private Map<String, Object> run(String sql, List<?> params) {
        Running run = new Running();
        try {
            run.execute(connection, sql, params);
            run.readRows(Integer.MAX_VALUE);
        }
        catch (SQLException e) {
            run.fail(e);
        }
        return run.result();
    }

    private Map<String, Object> start(String sql) {
        if (running != null) {
            return Map.of("type", "fatal", "error", "a started statement is still running");
        }
        running = new Running();
        try {
            running.execute(connection, sql, null);
        }
        catch (SQLException e) {
            running.fail(e);
        }
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("type", "started");
        reply.put("query_id", running.queryId.get());
        reply.put("error", running.error);
        return reply;
    }

    private Map<String, Object> fetch(int maxRows) {
        Running run = requireRunning();
        List<List<Object>> rows = new ArrayList<>();
        try {
            rows = run.readRows(maxRows);
        }
        catch (SQLException e) {
            run.fail(e);
        }
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("type", "rows");
        reply.put("query_id", run.queryId.get());
        reply.put("types", run.types);
        reply.put("rows", rows);
        reply.put("done", run.done || run.error != null);
        reply.put("error", run.error);
        return reply;
    }

    private Map<String, Object> finish() {
        Running run = requireRunning();
        running = null;
        try {
            run.readRows(Integer.MAX_VALUE);
        }
        catch (SQLException e) {
            run.fail(e);
        }
        return run.result();
    }

    /** Statement.cancel() from a second thread while this one keeps reading, as a JDBC application does. */
    private Map<String, Object> cancel() throws InterruptedException {
        Running run = requireRunning();
        running = null;
        AtomicReference<String> cancelError = new AtomicReference<>();
        Thread canceller = new Thread(() -> {
            try {
                run.statement.cancel();
            }
            catch (SQLException e) {
                cancelError.set(describe(e));
            }
        }, "jdbc-cancel");
        canceller.start();
        canceller.join();
        try {
            run.readRows(Integer.MAX_VALUE);
        }
        catch (SQLException e) {
            run.fail(e);
        }
        catch (RuntimeException e) {
            run.error = e.toString();
        }
        Map<String, Object> result = run.result();
        result.put("cancel_error", cancelError.get());
        return result;
    }

    /**
     * Executes `sql` on a second thread (execute() blocks while the query is QUEUED) and, once the
     * driver's progress monitor reports it QUEUED with an id starting `idPrefix` (router_queued_
     * for a query waiting at the router, "" for one queued by Trino itself), calls
     * Statement.cancel() from this thread, as an application whose user gave up would. Replies
     * the states seen and what execute() ended with.
     */
    private Map<String, Object> cancelWhenQueued(String sql, String idPrefix, long timeoutMs) throws Exception {
        Statement statement = connection.createStatement();
        List<String> states = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicReference<String> queryId = new AtomicReference<>();
        java.util.concurrent.CountDownLatch queued = new java.util.concurrent.CountDownLatch(1);
        statement.unwrap(TrinoStatement.class).setProgressMonitor(stats -> {
            queryId.set(stats.getQueryId());
            states.add(stats.getState());
            if ("QUEUED".equals(stats.getState()) && stats.getQueryId().startsWith(idPrefix)) {
                queued.countDown();
            }
        });
        AtomicReference<String> outcome = new AtomicReference<>("execute() returned");
        Thread executor = new Thread(() -> {
            try {
                statement.execute(sql);
            }
            catch (SQLException e) {
                outcome.set(describe(e));
            }
        }, "jdbc-execute");
        executor.start();
        boolean sawQueued = queued.await(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        String cancelError = null;
        long cancelledAt = System.nanoTime();
        try {
            statement.cancel();
        }
        catch (SQLException e) {
            cancelError = describe(e);
        }
        executor.join(timeoutMs);
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("type", "cancelled");
        reply.put("saw_queued", sawQueued);
        reply.put("query_id", queryId.get());
        reply.put("states", new ArrayList<>(states));
        reply.put("outcome", executor.isAlive() ? "execute() still blocked" : outcome.get());
        reply.put("ended_after_cancel_ms", (System.nanoTime() - cancelledAt) / 1_000_000);
        reply.put("cancel_error", cancelError);
        statement.close();
        return reply;
    }

    private Running requireRunning() {
        if (running == null) {
            throw new IllegalStateException("no started statement");
        }
        return running;
    }

    /** Commits the transaction when autocommit is off, then closes the connection. */
    private Map<String, Object> close() {
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("type", "closed");
        String error = null;
        try {
            if (running != null) {
                running.statement.close();
            }
            if (!connection.getAutoCommit()) {
                connection.commit();
            }
            connection.close();
        }
        catch (SQLException e) {
            error = describe(e);
        }
        reply.put("error", error);
        return reply;
    }

    private void reply(Map<String, Object> message) {
        out.println(Json.write(message));
    }

    /** The message plus the SQLState and vendor code, which carry Trino's error category and code. */
    static String describe(SQLException e) {
        StringBuilder text = new StringBuilder(String.valueOf(e.getMessage()));
        text.append(" [SQLState=").append(e.getSQLState()).append(", errorCode=").append(e.getErrorCode());
        if (e.getCause() != null) {
            text.append(", cause=").append(e.getCause());
        }
        return text.append(']').toString();
    }

    private static void putIfSet(Properties props, String key, Object value) {
        if (value != null) {
            props.setProperty(key, value.toString());
        }
    }

    private static List<String> stringList(List<?> values) {
        List<String> strings = new ArrayList<>();
        values.forEach(v -> strings.add(String.valueOf(v)));
        return strings;
    }

    /** One statement and what has been read of it so far. */
    private static final class Running {
        private static final Pattern FAILED_ID = Pattern.compile("\\(#(\\d{8}_\\d{6}_\\d{5}_\\w+)\\)");
        Statement statement;
        ResultSet resultSet;
        final AtomicReference<String> queryId = new AtomicReference<>();
        String infoUri;
        List<String> columns = new ArrayList<>();
        List<String> types = new ArrayList<>();
        List<List<Object>> rows = new ArrayList<>();
        Long updateCount;
        String error;
        boolean done;

        /** Records the failure; "Query failed (#id)" names the statement that failed, which may be a later one. */
        void fail(SQLException e) {
            error = describe(e);
            Matcher id = FAILED_ID.matcher(String.valueOf(e.getMessage()));
            if (id.find()) {
                queryId.set(id.group(1));
            }
        }

        void execute(Connection connection, String sql, List<?> params) throws SQLException {
            boolean hasResultSet;
            if (params == null) {
                statement = connection.createStatement();
                watch(statement);
                hasResultSet = statement.execute(sql);
            }
            else {
                // With the default explicitPrepare=true the driver sends PREPARE, then EXECUTE ... USING
                // with X-Trino-Prepared-Statement, then DEALLOCATE when the statement closes.
                PreparedStatement prepared = connection.prepareStatement(sql);
                statement = prepared;
                watch(statement);
                for (int i = 0; i < params.size(); i++) {
                    bind(prepared, i + 1, params.get(i));
                }
                hasResultSet = prepared.execute();
            }
            if (hasResultSet) {
                resultSet = statement.getResultSet();
                ResultSetMetaData meta = resultSet.getMetaData();
                for (int i = 1; i <= meta.getColumnCount(); i++) {
                    columns.add(meta.getColumnLabel(i));
                    types.add(meta.getColumnTypeName(i));
                }
                queryId.set(resultSet.unwrap(TrinoResultSet.class).getQueryId());
            }
            else {
                updateCount = statement.getLargeUpdateCount();
                done = true;
            }
        }

        private void watch(Statement statement) throws SQLException {
            // The progress monitor is the only place the driver reports the id of a statement
            // that returns no result set (DDL, INSERT, SET SESSION, USE). It also sees the
            // START TRANSACTION the driver sends first when autocommit is off: the last id wins.
            statement.unwrap(TrinoStatement.class).setProgressMonitor(stats -> queryId.set(stats.getQueryId()));
        }

        private static void bind(PreparedStatement prepared, int index, Object value) throws SQLException {
            if (value == null) {
                prepared.setNull(index, Types.VARCHAR);
            }
            else if (value instanceof Long) {
                prepared.setLong(index, (Long) value);
            }
            else if (value instanceof Double) {
                prepared.setDouble(index, (Double) value);
            }
            else if (value instanceof Boolean) {
                prepared.setBoolean(index, (Boolean) value);
            }
            else {
                prepared.setString(index, value.toString());
            }
        }

        /** Reads up to `max` more rows; returns them (they are also kept for result()). */
        List<List<Object>> readRows(int max) throws SQLException {
            List<List<Object>> read = new ArrayList<>();
            if (resultSet == null || done) {
                return read;
            }
            while (read.size() < max) {
                if (!resultSet.next()) {
                    done = true;
                    break;
                }
                List<Object> row = new ArrayList<>();
                for (int i = 1; i <= columns.size(); i++) {
                    row.add(Values.canonical(resultSet, i, types.get(i - 1)));
                }
                read.add(row);
            }
            rows.addAll(read);
            return read;
        }

        Map<String, Object> result() {
            if (resultSet != null) {
                try {
                    resultSet.close();
                }
                catch (SQLException ignored) {
                    // The outcome is already recorded; closing only frees the statement.
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("type", "result");
            result.put("query_id", queryId.get());
            result.put("columns", columns);
            result.put("types", types);
            result.put("rows", rows);
            result.put("update_count", updateCount);
            result.put("error", error);
            result.put("info_uri", infoUri);
            return result;
        }
    }
}
