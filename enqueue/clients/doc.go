// Package clients holds no Go code: it is the home of the producer
// examples for wdtcancel's HTTP API (php/producer.php, java/Producer.java)
// and of the test that runs them against a real `wdtcancel api` and Redis
// and checks the tasks they leave in Redis (clients_test.go). See
// README.md in this directory.
package clients
