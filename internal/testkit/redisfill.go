package testkit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// fillPrefix marks the keys FillUntilOOM writes.
const fillPrefix = "redistest:fill:"

// FillUntilOOM writes 64 KiB values into a redis-server started with
// Maxmemory and the noeviction policy until a write is refused with OOM.
//
// Right then Redis is only just over its limit: the refused write's own
// request buffer counted, and a connection closing anywhere frees enough
// for small writes to fit again. So that every write is refused until
// DrainFill, it then lowers maxmemory to 512 KiB under what is in use;
// DrainFill restores it.
func (r *Redis) FillUntilOOM(ctx context.Context) error {
	if !r.Real {
		return errors.New("an embedded redis has no maxmemory")
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	v := strings.Repeat("x", 64<<10)
	for n := 0; ; n++ {
		err := rdb.Set(ctx, fmt.Sprintf("%s%d", fillPrefix, n), v, 0).Err()
		if redis.IsOOMError(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("filling redis: %w", err)
		}
		if n > 100_000 {
			return errors.New("redis never ran out of memory: start it with Maxmemory and MaxmemoryPolicy noeviction")
		}
	}
	conf, err := rdb.ConfigGet(ctx, "maxmemory").Result()
	if err != nil {
		return err
	}
	used, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.maxmemory = conf["maxmemory"]
	r.mu.Unlock()
	return rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used-512<<10, 10)).Err()
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory without used_memory")
}

// DrainFill deletes what FillUntilOOM wrote and restores maxmemory.
func (r *Redis) DrainFill(ctx context.Context) error {
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	r.mu.Lock()
	maxmemory := r.maxmemory
	r.mu.Unlock()
	if maxmemory != "" {
		if err := rdb.ConfigSet(ctx, "maxmemory", maxmemory).Err(); err != nil {
			return err
		}
	}
	keys, err := rdb.Keys(ctx, fillPrefix+"*").Result()
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		if err := rdb.Del(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	return nil
}
