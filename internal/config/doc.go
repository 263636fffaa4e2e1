// Package config turns flags and environment variables into the settings
// the commands share: the Redis connection (a single node, Sentinel or
// Cluster, with the replica wait of durable writes), the WDT credentials
// and client of a single seller, the sellers file of several
// (sellers.go), and the Qimen lookup's settings (qimen.go). Flags win
// over environment variables; which flag reads which variable is
// EnvNameFor. It builds values and checks them; it starts nothing.
package config
