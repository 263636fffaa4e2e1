package redisinfo

import "testing"

// Real INFO text from redis-server 7.0 (CRLF line ends, as sent).
const (
	persistenceRDBOnly = "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:1796565285\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_write_status:ok\r\nmodule_fork_in_progress:0\r\n"
	persistenceAOF     = "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:12\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:0\r\naof_current_size:1130\r\naof_base_size:89\r\naof_buffer_length:0\r\n"
	replMasterNone     = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:bb01f6c97a12167473811faae15b3b80c0fc27a9\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
	replMasterTwo      = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=16392,state=online,offset=5740,lag=0\r\nslave1:ip=127.0.0.1,port=16393,state=online,offset=5740,lag=1\r\nmaster_failover_state:no-failover\r\nmaster_replid:6d4a579f643a70448969fe0219bc1873832035d2\r\nmaster_repl_offset:5740\r\n"
	replMasterSyncing  = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=16392,state=wait_bgsave,offset=0,lag=0\r\nslave1:ip=127.0.0.1,port=16393,state=online,offset=14,lag=0\r\nmaster_replid:6d4a579f643a70448969fe0219bc1873832035d2\r\n"
	replReplica        = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:16391\r\nmaster_link_status:up\r\nslave_read_repl_offset:1\r\nslave_repl_offset:1\r\nslave_priority:100\r\nslave_read_only:1\r\nconnected_slaves:0\r\nmaster_replid:6d4a579f643a70448969fe0219bc1873832035d2\r\n"
	// miniredis answers INFO with these sections only.
	miniClients = "# Clients\nconnected_clients:1\r\n"
)

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name                  string
		info                  string
		reported, aof         bool
		role                  string
		replicas              int
		replID                string
		durableIfFsyncDefault bool
	}{
		{"rdb only, no replica", persistenceRDBOnly + replMasterNone, true, false, "master", 0, "bb01f6c97a12167473811faae15b3b80c0fc27a9", false},
		{"aof, no replica", persistenceAOF + replMasterNone, true, true, "master", 0, "bb01f6c97a12167473811faae15b3b80c0fc27a9", true},
		{"rdb, two replicas online", persistenceRDBOnly + replMasterTwo, true, false, "master", 2, "6d4a579f643a70448969fe0219bc1873832035d2", false},
		{"a replica still syncing is not counted", persistenceAOF + replMasterSyncing, true, true, "master", 1, "6d4a579f643a70448969fe0219bc1873832035d2", true},
		{"a replica's own slave_ fields are not replicas", persistenceRDBOnly + replReplica, true, false, "slave", 0, "6d4a579f643a70448969fe0219bc1873832035d2", false},
		{"replication only (the replica wait's read)", replMasterTwo, false, false, "master", 2, "6d4a579f643a70448969fe0219bc1873832035d2", false},
		{"miniredis", miniClients, false, false, "", 0, "", false},
		{"empty", "", false, false, "", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ParseInfo(tt.info, "10.0.0.1:6379")
			if n.Reported != tt.reported || n.AOF != tt.aof || n.Role != tt.role || n.Replicas != tt.replicas || n.ReplID != tt.replID || n.Addr != "10.0.0.1:6379" {
				t.Fatalf("ParseInfo = %+v", n)
			}
			n.Fsync = DefaultFsync
			if n.AOFDurable() != tt.durableIfFsyncDefault {
				t.Fatalf("AOFDurable = %v with appendfsync %s", n.AOFDurable(), n.Fsync)
			}
		})
	}
}

func TestAOFDurableByFsync(t *testing.T) {
	for fsync, want := range map[string]bool{"always": true, "everysec": true, "no": false, "": false} {
		if got := (Node{AOF: true, Fsync: fsync}).AOFDurable(); got != want {
			t.Errorf("AOF with appendfsync %q: durable %v, want %v", fsync, got, want)
		}
	}
	if (Node{AOF: false, Fsync: "always"}).AOFDurable() {
		t.Error("AOF off counted durable")
	}
}

func TestReplicaOnline(t *testing.T) {
	for line, want := range map[string]bool{
		"ip=127.0.0.1,port=1,state=online,offset=5,lag=0":      true,
		"ip=127.0.0.1,port=1,state=wait_bgsave,offset=0,lag=0": false,
		"ip=127.0.0.1,port=1,state=send_bulk,offset=0,lag=0":   false,
		"ip=127.0.0.1,port=1":                                  false,
	} {
		if got := replicaOnline(line); got != want {
			t.Errorf("%q: online %v, want %v", line, got, want)
		}
	}
}
