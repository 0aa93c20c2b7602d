package bus

import (
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Resource is what an ACL grants an operation on.
type Resource string

// Resources an ACL can name.
const (
	ResourceTopic   Resource = "topic"
	ResourceGroup   Resource = "group"   // a consumer group
	ResourceCluster Resource = "cluster" // the cluster itself (create topics, ...)
)

// Operation is what an ACL allows.
type Operation string

// Operations an ACL can allow. Read, Write and Create imply Describe (as in
// Kafka).
const (
	OpRead     Operation = "read"
	OpWrite    Operation = "write"
	OpDescribe Operation = "describe"
	OpCreate   Operation = "create"
	OpAll      Operation = "all"
)

// ACL allows one operation on one resource (or, with Name "*", on every
// resource of its kind; with Prefixed, on every name that starts with Name).
// Only allow entries exist: what no ACL allows is denied.
type ACL struct {
	Resource  Resource
	Name      string
	Prefixed  bool
	Operation Operation
}

// ReadTopics allows reading (consuming) each topic.
func ReadTopics(topics ...string) []ACL { return acls(ResourceTopic, OpRead, topics) }

// WriteTopics allows writing (producing) to each topic.
func WriteTopics(topics ...string) []ACL { return acls(ResourceTopic, OpWrite, topics) }

// ReadGroups allows consuming in each consumer group: join, sync,
// heartbeat, leave, fetch and commit its offsets.
func ReadGroups(groups ...string) []ACL { return acls(ResourceGroup, OpRead, groups) }

func acls(r Resource, op Operation, names []string) []ACL {
	out := make([]ACL, len(names))
	for i, n := range names {
		out[i] = ACL{Resource: r, Name: n, Operation: op}
	}
	return out
}

// User is one SASL/SCRAM user of the embedded broker and what it may do. A
// superuser bypasses every ACL; the embedded broker needs one to create
// topics and to set the ACLs of the others at start-up.
type User struct {
	Name      string
	Password  string
	Superuser bool
	ACLs      []ACL
}

// validateUsers checks a set of users for the embedded broker.
func validateUsers(users []User) error {
	if len(users) == 0 {
		return errors.New("bus: embedded broker: no users: it refuses unauthenticated clients, so at least a superuser is needed")
	}
	seen := map[string]bool{}
	super := false
	for _, u := range users {
		switch {
		case u.Name == "":
			return errors.New("bus: embedded broker: a user without a name")
		case seen[u.Name]:
			return fmt.Errorf("bus: embedded broker: user %q twice", u.Name)
		case len(u.Password) < 16:
			return fmt.Errorf("bus: embedded broker: user %q: password shorter than 16 characters", u.Name)
		}
		seen[u.Name] = true
		super = super || u.Superuser
		for _, a := range u.ACLs {
			if _, err := a.entry(u.Name); err != nil {
				return fmt.Errorf("bus: embedded broker: user %q: %w", u.Name, err)
			}
		}
	}
	if !super {
		return errors.New("bus: embedded broker: no superuser (one creates the topics and sets the ACLs)")
	}
	return nil
}

// entry is a as a Kafka ACL binding of user.
func (a ACL) entry(user string) (kafka.ACLEntry, error) {
	e := kafka.ACLEntry{ResourceName: a.Name, ResourcePatternType: kafka.PatternTypeLiteral, Principal: "User:" + user,
		Host: "*", PermissionType: kafka.ACLPermissionTypeAllow}
	if a.Prefixed {
		e.ResourcePatternType = kafka.PatternTypePrefixed
	}
	switch a.Resource {
	case ResourceTopic:
		e.ResourceType = kafka.ResourceTypeTopic
	case ResourceGroup:
		e.ResourceType = kafka.ResourceTypeGroup
	case ResourceCluster:
		e.ResourceType, e.ResourceName = kafka.ResourceTypeCluster, "kafka-cluster"
	default:
		return e, fmt.Errorf("ACL on unknown resource %q", a.Resource)
	}
	switch a.Operation {
	case OpRead:
		e.Operation = kafka.ACLOperationTypeRead
	case OpWrite:
		e.Operation = kafka.ACLOperationTypeWrite
	case OpDescribe:
		e.Operation = kafka.ACLOperationTypeDescribe
	case OpCreate:
		e.Operation = kafka.ACLOperationTypeCreate
	case OpAll:
		e.Operation = kafka.ACLOperationTypeAll
	default:
		return e, fmt.Errorf("ACL with unknown operation %q", a.Operation)
	}
	if a.Name == "" && a.Resource != ResourceCluster {
		return e, fmt.Errorf("ACL on a %s without a name", a.Resource)
	}
	return e, nil
}
