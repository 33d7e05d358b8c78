import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Replays a Java tool's captured statements (tests/replays/*.sql: DBeaver
 * and Metabase, both built on pgJDBC) through the real pgJDBC driver, one
 * connection, as the tool would send them. Prints one line per statement:
 * "ok" and the answer's cells joined by '|' (rows by ';'), or "error", the
 * SQLSTATE and the message. Run by tests/it/replays.rs.
 *
 * Usage: java -cp postgresql.jar:. JdbcReplay FILE PORT USER TOKEN
 */
public class JdbcReplay {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[2]);
        props.setProperty("password", args[3]);
        props.setProperty("connectTimeout", "10");
        String url = "jdbc:postgresql://127.0.0.1:" + args[1] + "/lagoa";
        try (Connection conn = DriverManager.getConnection(url, props)) {
            for (String sql : statements(Path.of(args[0]))) {
                try (Statement st = conn.createStatement()) {
                    StringBuilder cells = new StringBuilder();
                    if (st.execute(sql)) {
                        try (ResultSet rs = st.getResultSet()) {
                            int n = rs.getMetaData().getColumnCount();
                            while (rs.next()) {
                                for (int i = 1; i <= n; i++) {
                                    cells.append(i == 1 ? "" : "|").append(rs.getString(i));
                                }
                                cells.append(";");
                            }
                        }
                    }
                    System.out.println("ok " + cells.toString().replace('\n', ' '));
                } catch (SQLException e) {
                    System.out.println("error " + e.getSQLState() + " "
                            + String.valueOf(e.getMessage()).replace('\n', ' '));
                }
            }
        }
    }

    /** The file's statements: comment lines dropped, split at a ';' ending a line. */
    static List<String> statements(Path file) throws java.io.IOException {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.startsWith("--")) {
                continue;
            }
            String trimmed = line.stripTrailing();
            if (trimmed.endsWith(";")) {
                current.append(trimmed, 0, trimmed.length() - 1);
                if (!current.toString().isBlank()) {
                    out.add(current.toString().strip());
                }
                current.setLength(0);
            } else {
                current.append(line).append('\n');
            }
        }
        if (!current.toString().isBlank()) {
            out.add(current.toString().strip());
        }
        return out;
    }
}
