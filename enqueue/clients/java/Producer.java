// A producer for wdtcancel's HTTP API (enqueue/openapi.yaml) with nothing
// but the JDK (17+): java.net.http and a small JSON reader below. Run it as
// a single-file program, no build step:
//
//   WDTCANCEL_API_URL=http://127.0.0.1:8090 WDTCANCEL_API_TOKEN=... \
//       java Producer.java RK2004210014 RK2004210015    # or one number a line on stdin
//   java Producer.java --status RK2004210014
//
// Input, output lines, environment and exit codes are the PHP producer's,
// described in enqueue/clients/README.md:
//   enqueued NO | duplicate NO STATE | invalid NO REASON | later NO WHY ERROR
//   status NO STATE attempts=N last_error=... | not_found NO | summary k=v...
// Exit: 0 all enqueued or known (found); 1 some invalid (not found);
// 2 refused (usage, no token, 401, 400, 415, 413 for one number);
// 3 some number must be sent again later (unavailable after the last try).

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class Producer {
    static final int EXIT_OK = 0, EXIT_INVALID = 1, EXIT_REFUSED = 2, EXIT_LATER = 3;

    final String url, token, source, seller;
    final int tries;
    final long delayMs;
    int maxNumbers;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    Producer() {
        url = env("WDTCANCEL_API_URL", "http://127.0.0.1:8090").replaceAll("/+$", "");
        token = env("WDTCANCEL_API_TOKEN", "");
        source = env("WDTCANCEL_SOURCE", "java-producer");
        // The WDT seller the numbers belong to; unset means the API's default.
        seller = env("WDTCANCEL_SELLER", "");
        // The server's default --max-numbers. A smaller server limit is
        // found from its 413 answer: the batch is halved until it passes.
        maxNumbers = intEnv("WDTCANCEL_MAX_NUMBERS", 10000, 1);
        tries = intEnv("WDTCANCEL_TRIES", 3, 1);
        delayMs = intEnv("WDTCANCEL_RETRY_DELAY_MS", 1000, 0);
    }

    /** A whole number from the environment; a bad value stops the run (exit 2). */
    static int intEnv(String name, int def, int min) {
        String v = env(name, String.valueOf(def));
        try {
            int n = Integer.parseInt(v);
            if (n >= min) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        say(name + "=" + v + ": want a whole number of at least " + min);
        System.exit(EXIT_REFUSED);
        return def; // not reached
    }

    static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    static String field(Object o) {
        return String.valueOf(o).replaceAll("[\\x00-\\x1f\\x7f]", "?");
    }

    static void out(Object... fields) {
        StringBuilder b = new StringBuilder();
        for (Object f : fields) {
            if (b.length() > 0) b.append('\t');
            b.append(field(f));
        }
        System.out.println(b);
    }

    static void say(String msg) {
        System.err.println("producer: " + field(msg));
    }

    /** One HTTP exchange; status 0 means no answer (refused, timeout). */
    record Answer(int status, Map<String, Object> json, String message) {}

    Answer call(String method, String path, String body) throws InterruptedException {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url + path))
                .timeout(Duration.ofSeconds(120))
                .header("Authorization", "Bearer " + token)
                .header("Accept", "application/json");
        if (body != null) {
            r.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        } else {
            r.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> resp;
        try {
            resp = http.send(r.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Answer(0, null, "no answer from " + url + ": " + e);
        }
        Map<String, Object> json = null;
        try {
            if (Json.parse(resp.body()) instanceof Map<?, ?> m) {
                @SuppressWarnings("unchecked")
                Map<String, Object> mm = (Map<String, Object>) m;
                json = mm;
            }
        } catch (IllegalArgumentException e) {
            // not JSON: keep the status
        }
        String msg = json != null && json.get("error") instanceof String s ? s : "HTTP " + resp.statusCode();
        return new Answer(resp.statusCode(), json, msg);
    }

    static boolean retryable(int status) {
        // No answer, 503 (Redis down) and other 5xx may pass; a 4xx will not.
        return status == 0 || status >= 500;
    }

    void backoff(int attempt, String why) throws InterruptedException {
        long ms = delayMs << (attempt - 1);
        say(String.format("%s; retrying in %.1fs (try %d of %d)", why, ms / 1000.0, attempt + 1, tries));
        Thread.sleep(ms);
    }

    static List<List<String>> chunks(List<String> all, int size) {
        List<List<String>> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i += size) {
            out.add(new ArrayList<>(all.subList(i, Math.min(all.size(), i + size))));
        }
        return out;
    }

    static String str(Object o) {
        return o == null ? "" : o.toString();
    }

    int enqueue(List<String> numbers) throws InterruptedException {
        Map<String, Integer> count = new LinkedHashMap<>();
        for (String k : List.of("enqueued", "duplicate", "invalid", "later")) count.put(k, 0);
        List<String> pending = numbers;
        List<String[]> later = new ArrayList<>();
        for (int attempt = 1; !pending.isEmpty() && attempt <= tries; attempt++) {
            if (attempt > 1) backoff(attempt - 1, pending.size() + " numbers not enqueued yet");
            later = new ArrayList<>();
            Deque<List<String>> queue = new ArrayDeque<>(chunks(pending, maxNumbers));
            while (!queue.isEmpty()) {
                List<String> batch = queue.poll();
                Map<String, Object> req = new LinkedHashMap<>();
                req.put("pre_stockin_nos", batch);
                req.put("source", source);
                if (!seller.isEmpty()) req.put("seller", seller);
                Answer a = call("POST", "/v1/cancellations", Json.write(req));
                if (a.status() == 413) {
                    if (batch.size() == 1) {
                        say("413 for the single number " + batch.get(0) + ": " + a.message());
                        return EXIT_REFUSED;
                    }
                    // Too many numbers or too large a body: halve the batches.
                    maxNumbers = batch.size() / 2;
                    say("413: " + a.message() + "; sending at most " + maxNumbers + " numbers a request");
                    List<String> rest = new ArrayList<>(batch);
                    queue.forEach(rest::addAll);
                    queue = new ArrayDeque<>(chunks(rest, maxNumbers));
                    continue;
                }
                if ((a.status() == 200 || a.status() == 503) && a.json() != null && a.json().get("items") instanceof List<?> items) {
                    for (Object o : items) {
                        Map<?, ?> it = (Map<?, ?>) o;
                        String no = str(it.get("pre_stockin_no")), result = str(it.get("result"));
                        switch (result) {
                            case "enqueued" -> out("enqueued", no);
                            case "duplicate" -> out("duplicate", no, str(it.get("state")));
                            case "invalid" -> out("invalid", no, str(it.get("error")));
                            // failed, unknown: safe to send again
                            default -> later.add(new String[] {no, result, str(it.get("error"))});
                        }
                        if (count.containsKey(result)) count.merge(result, 1, Integer::sum);
                    }
                    continue;
                }
                if (retryable(a.status())) {
                    for (String no : batch) later.add(new String[] {no, "unavailable", a.message()});
                    continue;
                }
                // 400, 401, 415 and any other 4xx: resending will not help.
                say("refused with " + a.status() + ": " + a.message());
                return EXIT_REFUSED;
            }
            pending = new ArrayList<>();
            for (String[] l : later) pending.add(l[0]);
        }
        for (String[] l : later) out("later", l[0], l[1], l[2]);
        count.put("later", later.size());
        summary(count);
        if (!later.isEmpty()) return EXIT_LATER;
        return count.get("invalid") > 0 ? EXIT_INVALID : EXIT_OK;
    }

    int status(List<String> numbers) throws InterruptedException {
        Map<String, Integer> count = new LinkedHashMap<>();
        for (String k : List.of("status", "not_found", "invalid", "later")) count.put(k, 0);
        String query = seller.isEmpty() ? "" : "?seller=" + URLEncoder.encode(seller, StandardCharsets.UTF_8);
        for (String no : numbers) {
            Answer a;
            for (int attempt = 1; ; attempt++) {
                a = call("GET", "/v1/cancellations/" + URLEncoder.encode(no, StandardCharsets.UTF_8).replace("+", "%20") + query, null);
                if (!retryable(a.status()) || attempt >= tries) break;
                backoff(attempt, "lookup of " + no + ": " + a.message());
            }
            if (a.status() == 200 && a.json() != null) {
                Map<String, Object> j = a.json();
                Object attempts = j.get("attempts") instanceof Double d ? (Object) d.longValue() : j.get("attempts");
                out("status", str(j.get("pre_stockin_no")), str(j.get("state")), "attempts=" + attempts, "last_error=" + str(j.get("last_error")));
                count.merge("status", 1, Integer::sum);
            } else if (a.status() == 404) {
                out("not_found", no);
                count.merge("not_found", 1, Integer::sum);
            } else if (a.status() == 400) {
                out("invalid", no, a.message());
                count.merge("invalid", 1, Integer::sum);
            } else if (retryable(a.status())) {
                out("later", no, "unavailable", a.message());
                count.merge("later", 1, Integer::sum);
            } else {
                say("refused with " + a.status() + ": " + a.message());
                return EXIT_REFUSED;
            }
        }
        summary(count);
        if (count.get("later") > 0) return EXIT_LATER;
        return count.get("not_found") + count.get("invalid") > 0 ? EXIT_INVALID : EXIT_OK;
    }

    static void summary(Map<String, Integer> count) {
        List<Object> f = new ArrayList<>();
        f.add("summary");
        count.forEach((k, v) -> f.add(k + "=" + v));
        out(f.toArray());
    }

    public static void main(String[] argv) throws Exception {
        List<String> args = new ArrayList<>(List.of(argv));
        boolean lookup = !args.isEmpty() && args.get(0).equals("--status");
        if (lookup) args.remove(0);
        if (args.isEmpty()) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.isBlank()) args.add(line);
            }
        }
        Producer p = new Producer();
        int code;
        if (p.token.isEmpty()) {
            say("no token: set WDTCANCEL_API_TOKEN to the token wdtcancel api was started with");
            code = EXIT_REFUSED;
        } else if (args.isEmpty()) {
            say("no numbers: pass them as arguments or one a line on stdin");
            code = EXIT_REFUSED;
        } else {
            code = lookup ? p.status(args) : p.enqueue(args);
        }
        System.out.flush();
        System.exit(code);
    }

    /** The JSON this program needs: objects, arrays, strings, numbers, literals. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String s) {
            Json j = new Json(s);
            Object v = j.value();
            j.ws();
            if (j.i != s.length()) throw new IllegalArgumentException("trailing data at " + j.i);
            return v;
        }

        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v) {
            if (v instanceof Map<?, ?> m) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) b.append(',');
                    first = false;
                    write(b, String.valueOf(e.getKey()));
                    b.append(':');
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (v instanceof List<?> l) {
                b.append('[');
                for (int k = 0; k < l.size(); k++) {
                    if (k > 0) b.append(',');
                    write(b, l.get(k));
                }
                b.append(']');
            } else if (v instanceof String str) {
                b.append('"');
                for (char c : str.toCharArray()) {
                    switch (c) {
                        case '"' -> b.append("\\\"");
                        case '\\' -> b.append("\\\\");
                        default -> {
                            if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                            else b.append(c);
                        }
                    }
                }
                b.append('"');
            } else {
                b.append(v); // numbers, booleans, null
            }
        }

        private void ws() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++;
        }

        private IllegalArgumentException bad() {
            return new IllegalArgumentException("bad JSON at " + i);
        }

        private Object value() {
            ws();
            if (i >= s.length()) throw bad();
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (i < s.length() && s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        if (i >= s.length() || s.charAt(i) != '"') throw bad();
                        String k = string();
                        ws();
                        if (i >= s.length() || s.charAt(i++) != ':') throw bad();
                        m.put(k, value());
                        ws();
                        if (i >= s.length()) throw bad();
                        char d = s.charAt(i++);
                        if (d == '}') return m;
                        if (d != ',') throw bad();
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (i < s.length() && s.charAt(i) == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        l.add(value());
                        ws();
                        if (i >= s.length()) throw bad();
                        char d = s.charAt(i++);
                        if (d == ']') return l;
                        if (d != ',') throw bad();
                    }
                }
                case '"':
                    return string();
                default:
                    for (String lit : new String[] {"true", "false", "null"}) {
                        if (s.startsWith(lit, i)) {
                            i += lit.length();
                            return lit.equals("null") ? null : Boolean.valueOf(lit);
                        }
                    }
                    int start = i;
                    while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
                    if (start == i) throw bad();
                    return Double.valueOf(s.substring(start, i));
            }
        }

        private String string() {
            i++; // opening quote
            StringBuilder b = new StringBuilder();
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (i >= s.length()) break;
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        if (i + 4 > s.length()) throw bad();
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append(e); // " \ /
                }
            }
            throw bad();
        }
    }
}
