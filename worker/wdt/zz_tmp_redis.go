package wdt

// Redis is temporary until the wdt branch lands.
const Redis Category = "redis"
