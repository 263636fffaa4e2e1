<?php
// A producer for wdtcancel's HTTP API (enqueue/openapi.yaml), with nothing
// but PHP's curl extension: enqueue a batch of pre-stockin order numbers, or
// look numbers up with --status. See enqueue/clients/README.md.
//
//   WDTCANCEL_API_URL=http://127.0.0.1:8090 WDTCANCEL_API_TOKEN=... \
//       php producer.php RK2004210014 RK2004210015     # or one number a line on stdin
//   php producer.php --status RK2004210014
//
// Output, one tab-separated line per number on stdout (a control character
// in a field is printed as "?"):
//   enqueued  NO
//   duplicate NO STATE            already known: pending, retry, dead, completed, in_batch, ...
//   invalid   NO REASON           refused; fix the number
//   later     NO WHY ERROR        not enqueued now (failed, unknown, unavailable): send it again later
//   status    NO STATE attempts=N last_error=...      (--status)
//   not_found NO                                       (--status)
//   summary   enqueued=N duplicate=N invalid=N later=N [not_found=N status=N]
// Progress and errors go to stderr.
//
// Exit codes: 0 every number enqueued or already known (or, with --status,
// found); 1 some number invalid (or not found); 2 refused: usage, no token,
// 401, 400, 415, or 413 for a single number (fix the setup; the request
// that was refused and the ones after it were not sent); 3 some number
// could not be handled because the service stayed unavailable after the
// last try (its line says `later`: send it again, that is safe).

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_REFUSED = 2;
const EXIT_LATER = 3;

function env(string $name, string $default): string
{
    $v = getenv($name);
    return ($v === false || $v === '') ? $default : $v;
}

function field(string $s): string
{
    return preg_replace('/[\x00-\x1f\x7f]/', '?', $s);
}

function out(string ...$fields): void
{
    echo implode("\t", array_map('field', $fields)), "\n";
}

function say(string $msg): void
{
    fwrite(STDERR, "producer: " . field($msg) . "\n");
}

/** A whole number from the environment; a bad value stops the run (exit 2). */
function intEnv(string $name, int $default, int $min): int
{
    $v = env($name, (string) $default);
    if (!preg_match('/^[0-9]+$/', $v) || (int) $v < $min) {
        say("$name=$v: want a whole number of at least $min");
        exit(EXIT_REFUSED);
    }
    return (int) $v;
}

final class Config
{
    public string $url;
    public string $token;
    public string $source;
    public string $seller;
    public int $maxNumbers;
    public int $tries;
    public int $delayMs;

    public static function fromEnv(): self
    {
        $c = new self();
        $c->url = rtrim(env('WDTCANCEL_API_URL', 'http://127.0.0.1:8090'), '/');
        $c->token = env('WDTCANCEL_API_TOKEN', '');
        $c->source = env('WDTCANCEL_SOURCE', 'php-producer');
        // The WDT seller the numbers belong to; unset means the API's default.
        $c->seller = env('WDTCANCEL_SELLER', '');
        // The server's default --max-numbers. A smaller server limit is
        // found from its 413 answer: the batch is halved until it passes.
        $c->maxNumbers = intEnv('WDTCANCEL_MAX_NUMBERS', 10000, 1);
        $c->tries = intEnv('WDTCANCEL_TRIES', 3, 1);
        $c->delayMs = intEnv('WDTCANCEL_RETRY_DELAY_MS', 1000, 0);
        return $c;
    }
}

/** One HTTP exchange: status 0 means no answer (connection refused, timeout). */
function call(Config $c, string $method, string $path, ?array $body): array
{
    $h = curl_init($c->url . $path);
    $headers = ['Authorization: Bearer ' . $c->token, 'Accept: application/json'];
    $opts = [
        CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CONNECTTIMEOUT => 10,
        CURLOPT_TIMEOUT => 120,
    ];
    if ($body !== null) {
        $opts[CURLOPT_POSTFIELDS] = json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
        $headers[] = 'Content-Type: application/json';
    }
    $opts[CURLOPT_HTTPHEADER] = $headers;
    curl_setopt_array($h, $opts);
    $raw = curl_exec($h);
    if ($raw === false) {
        $err = curl_error($h);
        curl_close($h);
        return [0, null, "no answer from {$c->url}: $err"];
    }
    $status = curl_getinfo($h, CURLINFO_RESPONSE_CODE);
    curl_close($h);
    $json = json_decode($raw, true);
    $msg = is_array($json) && isset($json['error']) ? $json['error'] : "HTTP $status";
    return [$status, is_array($json) ? $json : null, $msg];
}

function retryable(int $status): bool
{
    // No answer, 503 (Redis down) and other 5xx may pass; a 4xx will not.
    return $status === 0 || $status >= 500;
}

function backoff(Config $c, int $try, string $why): void
{
    $ms = $c->delayMs * (2 ** ($try - 1));
    say(sprintf("%s; retrying in %.1fs (try %d of %d)", $why, $ms / 1000, $try + 1, $c->tries));
    usleep($ms * 1000);
}

/** Enqueue every number; returns the exit code. */
function enqueue(Config $c, array $numbers): int
{
    $count = ['enqueued' => 0, 'duplicate' => 0, 'invalid' => 0, 'later' => 0];
    $max = $c->maxNumbers;
    $pending = $numbers;
    $later = [];
    for ($try = 1; $pending && $try <= $c->tries; $try++) {
        if ($try > 1) {
            backoff($c, $try - 1, count($pending) . " numbers not enqueued yet");
        }
        $later = [];
        $queue = array_chunk($pending, $max);
        while ($queue) {
            $batch = array_shift($queue);
            $body = ['pre_stockin_nos' => $batch, 'source' => $c->source];
            if ($c->seller !== '') {
                $body['seller'] = $c->seller;
            }
            [$status, $json, $msg] = call($c, 'POST', '/v1/cancellations', $body);
            if ($status === 413) {
                if (count($batch) === 1) {
                    say("413 for the single number {$batch[0]}: $msg");
                    return EXIT_REFUSED;
                }
                // Too many numbers or too large a body: halve the batches.
                $max = intdiv(count($batch), 2);
                say("413: $msg; sending at most $max numbers a request");
                $queue = array_chunk(array_merge($batch, ...$queue), $max);
                continue;
            }
            if (($status === 200 || $status === 503) && isset($json['items'])) {
                foreach ($json['items'] as $it) {
                    switch ($it['result']) {
                        case 'enqueued':
                            out('enqueued', $it['pre_stockin_no']);
                            $count['enqueued']++;
                            break;
                        case 'duplicate':
                            out('duplicate', $it['pre_stockin_no'], $it['state']);
                            $count['duplicate']++;
                            break;
                        case 'invalid':
                            out('invalid', $it['pre_stockin_no'], $it['error']);
                            $count['invalid']++;
                            break;
                        default: // failed, unknown: safe to send again
                            $later[] = [$it['pre_stockin_no'], $it['result'], $it['error']];
                    }
                }
                continue;
            }
            if (retryable($status)) {
                foreach ($batch as $no) {
                    $later[] = [$no, 'unavailable', $msg];
                }
                continue;
            }
            // 400, 401, 415 and any other 4xx: resending will not help.
            say("refused with $status: $msg");
            return EXIT_REFUSED;
        }
        $pending = array_column($later, 0);
    }
    foreach ($later as [$no, $why, $err]) {
        out('later', $no, $why, $err);
    }
    $count['later'] = count($later);
    out('summary', ...array_map(fn($k) => "$k=" . $count[$k], array_keys($count)));
    if ($count['later'] > 0) {
        return EXIT_LATER;
    }
    return $count['invalid'] > 0 ? EXIT_INVALID : EXIT_OK;
}

/** Look every number up; returns the exit code. */
function status(Config $c, array $numbers): int
{
    $count = ['status' => 0, 'not_found' => 0, 'invalid' => 0, 'later' => 0];
    $query = $c->seller === '' ? '' : '?seller=' . rawurlencode($c->seller);
    foreach ($numbers as $no) {
        for ($try = 1; ; $try++) {
            [$code, $json, $msg] = call($c, 'GET', '/v1/cancellations/' . rawurlencode($no) . $query, null);
            if (!retryable($code) || $try >= $c->tries) {
                break;
            }
            backoff($c, $try, "lookup of $no: $msg");
        }
        switch (true) {
            case $code === 200:
                out('status', $json['pre_stockin_no'], $json['state'], 'attempts=' . $json['attempts'], 'last_error=' . ($json['last_error'] ?? ''));
                $count['status']++;
                break;
            case $code === 404:
                out('not_found', $no);
                $count['not_found']++;
                break;
            case $code === 400:
                out('invalid', $no, $msg);
                $count['invalid']++;
                break;
            case retryable($code):
                out('later', $no, 'unavailable', $msg);
                $count['later']++;
                break;
            default:
                say("refused with $code: $msg");
                return EXIT_REFUSED;
        }
    }
    out('summary', ...array_map(fn($k) => "$k=" . $count[$k], array_keys($count)));
    if ($count['later'] > 0) {
        return EXIT_LATER;
    }
    return ($count['not_found'] + $count['invalid']) > 0 ? EXIT_INVALID : EXIT_OK;
}

function main(array $argv): int
{
    if (!function_exists('curl_init')) {
        say('PHP has no curl extension: install it (apt-get install php-curl)');
        return EXIT_REFUSED;
    }
    $args = array_slice($argv, 1);
    $lookup = false;
    if ($args && $args[0] === '--status') {
        $lookup = true;
        array_shift($args);
    }
    if (!$args) {
        while (($line = fgets(STDIN)) !== false) {
            if (trim($line) !== '') {
                $args[] = rtrim($line, "\r\n");
            }
        }
    }
    $c = Config::fromEnv();
    if ($c->token === '') {
        say('no token: set WDTCANCEL_API_TOKEN to the token wdtcancel api was started with');
        return EXIT_REFUSED;
    }
    if (!$args) {
        say('no numbers: pass them as arguments or one a line on stdin');
        return EXIT_REFUSED;
    }
    return $lookup ? status($c, $args) : enqueue($c, $args);
}

exit(main($argv));
