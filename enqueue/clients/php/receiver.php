<?php
// wdtcancel outcome-event receiver in plain PHP (no framework, no extension
// beyond the standard ones): verify the webhook's signature, store the event
// once by its event_id, answer 2xx. Run it behind your web server, or for a
// try with PHP's built-in server:
//
//   WDTCANCEL_NOTIFY_SECRET=... WDTCANCEL_EVENTS_FILE=/var/lib/erp/wdtcancel-events.jsonl \
//     php -S 127.0.0.1:8099 receiver.php
//
// and point the worker at it: wdtcancel worker --notify-url http://127.0.0.1:8099/events
//
// The recipe (docs/architecture.md, "Outcome events"): hex HMAC-SHA256 with
// the shared secret over the X-Wdtcancel-Timestamp value, "." and the raw
// body, compared in constant time with X-Wdtcancel-Signature after "v1=";
// a timestamp more than 5 minutes off is refused. Delivery is at least once:
// an event_id seen before is answered 2xx again without storing it twice.
// Answer 2xx only once the event is stored; anything else is sent again.

$secret = getenv('WDTCANCEL_NOTIFY_SECRET');
$store = getenv('WDTCANCEL_EVENTS_FILE') ?: sys_get_temp_dir() . '/wdtcancel-events.jsonl';

function answer(int $code, string $why): void {
    http_response_code($code);
    header('Content-Type: text/plain');
    echo $why, "\n";
}

if ($secret === false || $secret === '') {
    answer(500, 'WDTCANCEL_NOTIFY_SECRET is not set');
    return;
}
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    answer(405, 'POST only');
    return;
}
$body = file_get_contents('php://input');
$ts = $_SERVER['HTTP_X_WDTCANCEL_TIMESTAMP'] ?? '';
$sig = $_SERVER['HTTP_X_WDTCANCEL_SIGNATURE'] ?? '';
if (!ctype_digit($ts) || abs(time() - (int)$ts) > 300) {
    answer(401, 'timestamp missing or more than 5 minutes off');
    return;
}
$want = 'v1=' . hash_hmac('sha256', $ts . '.' . $body, $secret);
if (!hash_equals($want, $sig)) {
    answer(401, 'bad signature');
    return;
}
$event = json_decode($body, true);
if (!is_array($event) || !isset($event['event_id'], $event['pre_stockin_no'], $event['outcome'])) {
    answer(400, 'not an outcome event');
    return;
}
$fh = fopen($store, 'c+');
if ($fh === false || !flock($fh, LOCK_EX)) {
    answer(503, 'cannot open the event store');
    return;
}
$seen = false;
while (($line = fgets($fh)) !== false) {
    $old = json_decode($line, true);
    if (is_array($old) && ($old['event_id'] ?? '') === $event['event_id']) {
        $seen = true;
        break;
    }
}
if (!$seen) {
    fseek($fh, 0, SEEK_END);
    fwrite($fh, json_encode($event, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) . "\n");
    fflush($fh);
}
flock($fh, LOCK_UN);
fclose($fh);
// Here an ERP would update the order: $event['outcome'] is cancelled,
// rejected, ambiguous (check the order in WDT), invalid, exhausted, requeued,
// purged, or a value added later (treat an unknown one as "look at it").
answer(204, '');
