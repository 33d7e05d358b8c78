import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Properties;

/**
 * What a Java BI tool does through the real pgJDBC driver (Debian's
 * libpostgresql-jdbc-java): prepared statements executed twenty times, so
 * that the driver switches to named statements and binary results after
 * the fifth, with integer, numeric and date parameters (a numeric one
 * through a cast: compared with an integer column, a fractional
 * parameter is not yet typed as the driver declares it), and the
 * DatabaseMetaData calls DBeaver's schema browser makes (schemas, tables,
 * columns with their types, primary keys, indexes, foreign keys, the
 * server's types). Prints one line per check; run by
 * tests/it/pg.rs.
 *
 * Usage: java -cp postgresql.jar:. JdbcClient PORT USER TOKEN
 */
public class JdbcClient {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("connectTimeout", "10");
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/lagoa";
        try (Connection conn = DriverManager.getConnection(url, props)) {
            System.out.println("server " + conn.getMetaData().getDatabaseProductVersion());
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT count(*) AS n FROM populacao WHERE habitantes > ? AND ano = ?")) {
                long last = -1;
                for (int i = 0; i < 20; i++) {
                    st.setLong(1, 1500L);
                    st.setInt(2, 2024);
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        last = rs.getLong(1);
                    }
                }
                System.out.println("numeric and int parameters, 20 runs: " + last);
            }
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT CAST(? AS DATE) AS d, DATE '2024-03-15' AS fixed, CAST(? AS DECIMAL(10,2)) AS p, "
                            + "CAST(1234.50 AS DECIMAL(10,2)) AS n, true AS b, CAST(1.5 AS DOUBLE) AS f")) {
                String seen = "";
                for (int i = 0; i < 20; i++) {
                    st.setDate(1, java.sql.Date.valueOf("2024-01-0" + (1 + i % 9)));
                    st.setBigDecimal(2, new BigDecimal("1500.5"));
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        seen = rs.getDate("d") + " " + rs.getDate("fixed") + " " + rs.getBigDecimal("p")
                                + " " + rs.getBigDecimal("n")
                                + " " + rs.getBoolean("b") + " " + rs.getDouble("f");
                    }
                }
                System.out.println("date parameter and typed results, 20 runs: " + seen);
            }
            DatabaseMetaData md = conn.getMetaData();
            System.out.println("schemas: " + column(md.getSchemas(), 1));
            System.out.println("tables: " + column(md.getTables(null, "public", "%", new String[] {"TABLE"}), 3));
            System.out.println("columns of populacao: " + column(md.getColumns(null, "public", "populacao", "%"), 4)
                    + " typed " + column(md.getColumns(null, "public", "populacao", "%"), 6));
            System.out.println("columns of obitos: " + column(md.getColumns(null, "public", "obitos", "%"), 4));
            System.out.println("catalogs: " + column(md.getCatalogs(), 1));
            System.out.println("primary keys of populacao: " + column(md.getPrimaryKeys(null, "public", "populacao"), 4));
            System.out.println("indexes of populacao: " + column(md.getIndexInfo(null, "public", "populacao", false, true), 6));
            System.out.println("imported keys of populacao: " + column(md.getImportedKeys(null, "public", "populacao"), 4));
            System.out.println("exported keys of populacao: " + column(md.getExportedKeys(null, "public", "populacao"), 4));
            String types = "," + column(md.getTypeInfo(), 1) + ",";
            System.out.println("type info: " + String.join(",", java.util.Arrays.stream(
                    new String[] {"bool", "int8", "int4", "numeric", "float8", "text", "varchar", "date", "timestamp"})
                    .filter(t -> types.contains("," + t + ",")).toArray(String[]::new)));
            System.out.println("table types: " + column(md.getTableTypes(), 1).contains("TABLE"));
            try (PreparedStatement st = conn.prepareStatement("SELEC 1")) {
                st.executeQuery();
                System.out.println("syntax error: none");
            } catch (SQLException e) {
                System.out.println("syntax error: " + e.getSQLState());
            }
        }
    }

    /** One column of a metadata result, comma-separated. */
    private static String column(ResultSet rs, int index) throws SQLException {
        StringBuilder out = new StringBuilder();
        try (rs) {
            while (rs.next()) {
                if (out.length() > 0) {
                    out.append(",");
                }
                out.append(rs.getString(index));
            }
        }
        return out.toString();
    }
}
