package lagoa.interop;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.crypto.keytools.KmsClient;

/**
 * Parquet's KMS client (for Spark's and parquet-java's
 * {@code PropertiesDrivenCryptoFactory}) reading a Lagoa lake whose master
 * keys are in a service speaking the AWS KMS API.
 *
 * <p>Lagoa wraps each key-encryption key with the API's {@code Encrypt}
 * under the alias {@code alias/<prefix><dataset>/<purpose>/v<N>}, bound to
 * the id it is stored under as encryption context {@code {"lagoa:key": id}},
 * and stores {@code "kms:1:" + base64(CiphertextBlob)}. This client does the
 * same {@code Decrypt} (and {@code Encrypt}), signing requests with AWS
 * Signature Version 4 using only the JDK, so no AWS SDK jar is needed.
 *
 * <p>Hadoop configuration (Spark: {@code spark.hadoop.<name>}):
 * <ul>
 * <li>{@code lagoa.kms.endpoint}: the service's address, unless
 *     {@code parquet.encryption.kms.instance.url} gives it;</li>
 * <li>{@code lagoa.kms.region} (default {@code us-east-1});</li>
 * <li>{@code lagoa.kms.alias.prefix} (default {@code lagoa/}), the lake's
 *     {@code keys.kms_alias_prefix};</li>
 * <li>credentials from {@code AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}
 *     and {@code AWS_SESSION_TOKEN} in the environment.</li>
 * </ul>
 */
public class LagoaKmsClient implements KmsClient {
    private static final String WRAP_PREFIX = "kms:1:";
    private static final DateTimeFormatter AMZ_DATE =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");
    private static final Pattern PLAINTEXT = Pattern.compile("\"Plaintext\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern BLOB = Pattern.compile("\"CiphertextBlob\"\\s*:\\s*\"([^\"]*)\"");

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private URI endpoint;
    private String region;
    private String aliasPrefix;

    @Override
    public void initialize(Configuration conf, String kmsInstanceID, String kmsInstanceURL,
            String accessToken) throws KeyAccessDeniedException {
        String url = conf.getTrimmed("lagoa.kms.endpoint", "");
        if (kmsInstanceURL != null && !kmsInstanceURL.isEmpty()
                && !KmsClient.KMS_INSTANCE_URL_DEFAULT.equals(kmsInstanceURL)) {
            url = kmsInstanceURL;
        }
        if (url.isEmpty()) {
            throw new KeyAccessDeniedException(
                    "lagoa.kms.endpoint (or parquet.encryption.kms.instance.url) is not set");
        }
        endpoint = URI.create(url.endsWith("/") ? url : url + "/");
        region = conf.getTrimmed("lagoa.kms.region", "us-east-1");
        aliasPrefix = conf.getTrimmed("lagoa.kms.alias.prefix", "lagoa/");
    }

    @Override
    public String wrapKey(byte[] keyBytes, String masterKeyIdentifier)
            throws KeyAccessDeniedException {
        String body = "{\"KeyId\":" + quote(aliasOf(masterKeyIdentifier))
                + ",\"Plaintext\":" + quote(Base64.getEncoder().encodeToString(keyBytes))
                + ",\"EncryptionContext\":{\"lagoa:key\":" + quote(masterKeyIdentifier) + "}}";
        return WRAP_PREFIX + field(call("Encrypt", body, masterKeyIdentifier), BLOB,
                masterKeyIdentifier);
    }

    @Override
    public byte[] unwrapKey(String wrappedKey, String masterKeyIdentifier)
            throws KeyAccessDeniedException {
        if (!wrappedKey.startsWith(WRAP_PREFIX)) {
            throw new KeyAccessDeniedException(
                    "the key under " + masterKeyIdentifier + " was not wrapped by a KMS");
        }
        String body = "{\"KeyId\":" + quote(aliasOf(masterKeyIdentifier))
                + ",\"CiphertextBlob\":" + quote(wrappedKey.substring(WRAP_PREFIX.length()))
                + ",\"EncryptionContext\":{\"lagoa:key\":" + quote(masterKeyIdentifier) + "}}";
        return Base64.getDecoder().decode(
                field(call("Decrypt", body, masterKeyIdentifier), PLAINTEXT, masterKeyIdentifier));
    }

    /** {@code lagoa.<dataset>.<purpose>.v<N>[#column]} to its alias. */
    String aliasOf(String masterKeyIdentifier) throws KeyAccessDeniedException {
        String stored = masterKeyIdentifier.split("#", 2)[0];
        String[] parts = stored.split("\\.");
        int n = parts.length;
        if (n < 4 || !parts[0].equals("lagoa") || !parts[n - 1].matches("v[0-9]+")) {
            throw new KeyAccessDeniedException(masterKeyIdentifier + " is not a Lagoa master key id");
        }
        String dataset = String.join(".", java.util.Arrays.copyOfRange(parts, 1, n - 2));
        return "alias/" + aliasPrefix + dataset + "/" + parts[n - 2] + "/" + parts[n - 1];
    }

    private String call(String action, String body, String id) throws KeyAccessDeniedException {
        String access = System.getenv("AWS_ACCESS_KEY_ID");
        String secret = System.getenv("AWS_SECRET_ACCESS_KEY");
        String session = System.getenv("AWS_SESSION_TOKEN");
        if (access == null || secret == null) {
            throw new KeyAccessDeniedException("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
        }
        try {
            String amzDate = ZonedDateTime.now(ZoneOffset.UTC).format(AMZ_DATE);
            String day = amzDate.substring(0, 8);
            String host = endpoint.getHost() + (endpoint.getPort() == -1 ? "" : ":" + endpoint.getPort());
            String target = "TrentService." + action;
            String type = "application/x-amz-json-1.1";
            StringBuilder headers = new StringBuilder()
                    .append("content-type:").append(type).append('\n')
                    .append("host:").append(host).append('\n')
                    .append("x-amz-date:").append(amzDate).append('\n');
            String signed = "content-type;host;x-amz-date";
            if (session != null && !session.isEmpty()) {
                headers.append("x-amz-security-token:").append(session).append('\n');
                signed += ";x-amz-security-token";
            }
            headers.append("x-amz-target:").append(target).append('\n');
            signed += ";x-amz-target";
            String path = endpoint.getRawPath().isEmpty() ? "/" : endpoint.getRawPath();
            String canonical = "POST\n" + path + "\n\n" + headers + "\n" + signed + "\n"
                    + hex(sha256(body.getBytes(StandardCharsets.UTF_8)));
            String scope = day + "/" + region + "/kms/aws4_request";
            String toSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n"
                    + hex(sha256(canonical.getBytes(StandardCharsets.UTF_8)));
            byte[] key = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), day);
            key = hmac(key, region);
            key = hmac(key, "kms");
            key = hmac(key, "aws4_request");
            String signature = hex(hmac(key, toSign));
            HttpRequest.Builder request = HttpRequest.newBuilder(endpoint)
                    .timeout(Duration.ofSeconds(10))
                    .header("Content-Type", type)
                    .header("X-Amz-Date", amzDate)
                    .header("X-Amz-Target", target)
                    .header("Authorization", "AWS4-HMAC-SHA256 Credential=" + access + "/" + scope
                            + ", SignedHeaders=" + signed + ", Signature=" + signature)
                    .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
            if (session != null && !session.isEmpty()) {
                request.header("X-Amz-Security-Token", session);
            }
            HttpResponse<String> answer = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            if (answer.statusCode() != 200) {
                throw new KeyAccessDeniedException("KMS " + action + " under " + id + " refused (HTTP "
                        + answer.statusCode() + "): " + errorType(answer.body()));
            }
            return answer.body();
        } catch (KeyAccessDeniedException e) {
            throw e;
        } catch (Exception e) {
            throw new KeyAccessDeniedException("KMS " + action + " under " + id + " failed: " + e, e);
        }
    }

    private static String field(String json, Pattern pattern, String id) throws KeyAccessDeniedException {
        Matcher m = pattern.matcher(json);
        if (!m.find()) {
            throw new KeyAccessDeniedException("the KMS answer for " + id + " lacks " + pattern.pattern());
        }
        return m.group(1);
    }

    /** The error's type only: a KMS message may quote the request. */
    private static String errorType(String body) {
        Matcher m = Pattern.compile("\"__type\"\\s*:\\s*\"([^\"]*)\"").matcher(body);
        return m.find() ? m.group(1) : "an error";
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    private static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }

    private static byte[] hmac(byte[] key, String data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            out.append(String.format("%02x", b));
        }
        return out.toString();
    }
}
