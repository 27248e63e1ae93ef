// Turns a JDBC column value into the canonical JSON form tests compare across clients.
// Integers -> numbers, non-finite doubles -> "Infinity"/"NaN", decimals and temporal types -> Trino's text.

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Values {
    private Values() {}

    static Object canonical(ResultSet rs, int column, String type) throws SQLException {
        String base = type.replaceAll("\\(.*", "").toLowerCase();
        if (base.startsWith("date") || base.startsWith("time") || base.startsWith("interval")) {
            // java.sql.Timestamp/Time drop precision and shift zones; getString is Trino's own text.
            return rs.getString(column);
        }
        return canonical(rs.getObject(column));
    }

    static Object canonical(Object value) throws SQLException {
        if (value == null || value instanceof Boolean || value instanceof String) {
            return value;
        }
        if (value instanceof Byte || value instanceof Short || value instanceof Integer || value instanceof Long) {
            return ((Number) value).longValue();
        }
        if (value instanceof Float || value instanceof Double) {
            double d = ((Number) value).doubleValue();
            if (Double.isNaN(d)) {
                return "NaN";
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? "Infinity" : "-Infinity";
            }
            // A real keeps its float text (1.1, not 1.100000023841858), as the other clients show it.
            return value instanceof Float ? Double.valueOf(Float.toString((Float) value)) : d;
        }
        if (value instanceof BigDecimal) {
            return ((BigDecimal) value).toPlainString();
        }
        if (value instanceof byte[]) {
            StringBuilder hex = new StringBuilder();
            for (byte b : (byte[]) value) {
                hex.append(String.format("%02x", b));
            }
            return hex.toString();
        }
        if (value instanceof Array) {
            return canonical(((Array) value).getArray());
        }
        if (value instanceof Object[]) {
            List<Object> list = new ArrayList<>();
            for (Object element : (Object[]) value) {
                list.add(canonical(element));
            }
            return list;
        }
        if (value instanceof List) {
            List<Object> list = new ArrayList<>();
            for (Object element : (List<?>) value) {
                list.add(canonical(element));
            }
            return list;
        }
        if (value instanceof Map) {
            Map<String, Object> map = new LinkedHashMap<>();
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                map.put(String.valueOf(entry.getKey()), canonical(entry.getValue()));
            }
            return map;
        }
        return value.toString();
    }
}
