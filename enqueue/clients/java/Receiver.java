// wdtcancel outcome-event receiver in plain Java 11+ (JDK only: the JDK's
// own HTTP server, no dependency): verify the webhook's signature, store
// the event once by its event_id, answer 2xx. Run it with
//
//   WDTCANCEL_NOTIFY_SECRET=... WDTCANCEL_RECEIVER_LISTEN=127.0.0.1:8099 \
//   WDTCANCEL_EVENTS_FILE=/var/lib/erp/wdtcancel-events.jsonl java Receiver.java
//
// and point the worker at it: wdtcancel worker --notify-url http://127.0.0.1:8099/events
//
// The recipe (docs/architecture.md, "Outcome events"): hex HMAC-SHA256 with
// the shared secret over the X-Wdtcancel-Timestamp value, "." and the raw
// body, compared in constant time with X-Wdtcancel-Signature after "v1=";
// a timestamp more than 5 minutes off is refused. Delivery is at least once:
// an event_id seen before is answered 2xx again without storing it twice.

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Receiver {
    private static final Pattern EVENT_ID = Pattern.compile("\"event_id\":\"([^\"]+)\"");
    private static final Set<String> seen = new HashSet<>();

    public static void main(String[] args) throws Exception {
        String secret = System.getenv("WDTCANCEL_NOTIFY_SECRET");
        if (secret == null || secret.isEmpty()) {
            System.err.println("WDTCANCEL_NOTIFY_SECRET is not set");
            System.exit(2);
        }
        String listen = env("WDTCANCEL_RECEIVER_LISTEN", "127.0.0.1:8099");
        Path store = Path.of(env("WDTCANCEL_EVENTS_FILE", System.getProperty("java.io.tmpdir") + "/wdtcancel-events.jsonl"));
        if (Files.exists(store)) {
            for (String line : Files.readAllLines(store, StandardCharsets.UTF_8)) {
                Matcher m = EVENT_ID.matcher(line);
                if (m.find()) seen.add(m.group(1));
            }
        }
        int colon = listen.lastIndexOf(':');
        HttpServer srv = HttpServer.create(new InetSocketAddress(listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1))), 64);
        srv.createContext("/", ex -> handle(ex, secret.getBytes(StandardCharsets.UTF_8), store));
        srv.start();
        System.out.println("listening\t" + listen);
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    private static void handle(HttpExchange ex, byte[] secret, Path store) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("POST")) {
                answer(ex, 405, "POST only");
                return;
            }
            byte[] body;
            try (InputStream in = ex.getRequestBody()) {
                body = in.readNBytes(1 << 20);
            }
            String ts = ex.getRequestHeaders().getFirst("X-Wdtcancel-Timestamp");
            String sig = ex.getRequestHeaders().getFirst("X-Wdtcancel-Signature");
            if (ts == null || !ts.matches("[0-9]{1,12}") || Math.abs(System.currentTimeMillis() / 1000 - Long.parseLong(ts)) > 300) {
                answer(ex, 401, "timestamp missing or more than 5 minutes off");
                return;
            }
            String want = "v1=" + hmacHex(secret, ts + "." + new String(body, StandardCharsets.UTF_8));
            if (sig == null || !MessageDigest.isEqual(want.getBytes(StandardCharsets.UTF_8), sig.getBytes(StandardCharsets.UTF_8))) {
                answer(ex, 401, "bad signature");
                return;
            }
            String json = new String(body, StandardCharsets.UTF_8);
            Matcher m = EVENT_ID.matcher(json);
            if (!m.find()) {
                answer(ex, 400, "not an outcome event");
                return;
            }
            String id = m.group(1);
            synchronized (seen) {
                if (seen.add(id)) {
                    // Stored before the 2xx: a crash before the answer only
                    // means the event is sent again, and found here.
                    Files.writeString(store, json + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    System.out.println("stored\t" + id);
                } else {
                    System.out.println("duplicate\t" + id);
                }
            }
            answer(ex, 204, "");
        } catch (Exception e) {
            System.err.println("receiver: " + e);
        }
    }

    private static String hmacHex(byte[] secret, String data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret, "HmacSHA256"));
        StringBuilder sb = new StringBuilder();
        for (byte b : mac.doFinal(data.getBytes(StandardCharsets.UTF_8))) sb.append(String.format("%02x", b));
        return sb.toString();
    }

    private static void answer(HttpExchange ex, int code, String why) throws IOException {
        byte[] b = why.getBytes(StandardCharsets.UTF_8);
        if (code == 204) {
            ex.sendResponseHeaders(204, -1);
            return;
        }
        ex.sendResponseHeaders(code, b.length);
        ex.getResponseBody().write(b);
    }
}
