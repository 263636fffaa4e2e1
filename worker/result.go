package worker

import "strconv"

// taskResult is what a completed task keeps as its asynq result, and so what
// asynqmon's Completed tab and task page show as its Result:
//
//	{"category":"cancelled","calls":1,"attempt":1}
//
// category is cancelled: a task completes only once WDT said status 0, in
// this attempt or, per the outcome memory, an earlier one; the worker also
// reads it back as the confirmation when the same task runs again (see
// Handler.confirm). calls is the
// number of WDT calls the finishing attempt made (2 after an in-attempt clock
// resync), attempt the 1-based attempt that finished the task.
//
// asynqmon prints result bytes only when they are printable text and shows
// "non-printable bytes" otherwise, an empty result included; so this is one
// line of ASCII JSON with a fixed key order, built without reflection.
func taskResult(calls, attempt int) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"category":"cancelled","calls":`...)
	b = strconv.AppendInt(b, int64(calls), 10)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(attempt), 10)
	return append(b, '}')
}
