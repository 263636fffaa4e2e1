package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Pre-stockin order states, as WDT numbers them.
const (
	StateCancelled = 10 // 已取消
	StateEditing   = 20 // 编辑中
	StateReview    = 30 // 待审核
	StateCompleted = 80 // 已完成
)

// states lists every state an order may be set to: the pre-stockin states
// and the quality-check states (37, 40) of the wider stockin family.
var states = []int{StateCancelled, StateEditing, StateReview, 37, 40, StateCompleted}

// ValidState reports whether s is a state an order may be in: 10, 20, 30,
// 37, 40 or 80.
func ValidState(s int) bool { return slices.Contains(states, s) }

func statesText() string {
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = strconv.Itoa(st)
	}
	return strings.Join(parts, ", ")
}

// Cancellable reports whether WDT allows cancelling from state s.
func Cancellable(s int) bool { return s == StateEditing || s == StateReview }

// Unknown says what the sandbox does with a number it was not given.
type Unknown string

const (
	// UnknownEditing treats any unlisted number as an order in editing, so
	// any number can be cancelled once.
	UnknownEditing Unknown = "editing"
	// UnknownMissing answers unlisted numbers as WDT does for a document that
	// does not exist.
	UnknownMissing Unknown = "missing"
)

// ParseUnknown validates the --unknown flag.
func ParseUnknown(s string) (Unknown, error) {
	switch Unknown(s) {
	case UnknownEditing, UnknownMissing:
		return Unknown(s), nil
	case "":
		return UnknownEditing, nil
	}
	return "", fmt.Errorf("unknown-order policy %q: use editing or missing", s)
}

// ReadOrders parses lines "NO STATE" (blank lines and # comments skipped).
func ReadOrders(r io.Reader) (map[string]int, error) {
	orders := make(map[string]int)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("orders line %d: want \"NO STATE\", got %q", line, text)
		}
		state, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("orders line %d: state %q is not a number (10, 20, 30, 80)", line, fields[1])
		}
		orders[fields[0]] = state
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	return orders, nil
}

// ReadOrdersFile is ReadOrders on a file.
func ReadOrdersFile(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("orders file: %w", err)
	}
	defer f.Close()
	o, err := ReadOrders(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}
