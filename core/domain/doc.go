// Package domain holds the vaccination campaign's entities, value objects and
// rules: residents, entitlement rule sets, centres and their capacity,
// appointment series, the waitlist and the events they cause. It decides; it
// never does I/O and imports nothing outside the standard library.
package domain
