// Package bus is vaxhub's event backbone: a kafka-go publisher, a consumer
// runtime (validate, handle, retry, dead-letter, then commit), the outbox relay
// that moves committed outbox rows to Kafka in order per key, an embedded
// Kafka-protocol broker (kfake) for local runs and tests, and dead-letter tools.
//
// It must never commit an offset before the message and every message before it
// in its partition are handled or dead-lettered, never drop a message, and never
// decide anything the domain decides: it moves bytes and reports outcomes.
package bus
