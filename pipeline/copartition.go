package pipeline

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coPartitioned is a group balancer that balances the lead topic (the
// events) with the balancer it wraps and gives partition p of the follow
// topic (the chat feedback) to whichever member got partition p of the lead
// topic, so a session's feedback reaches the replica that holds the
// session. Kafka Streams does the same for co-partitioned topics.
//
// It works with the cooperative sticky balancer because the mirror follows
// the lead's plan after the cooperative adjustment: a lead partition
// withheld for a round (revoked from its old owner, not yet given to the
// new one) takes its follow partition along, so both move in the same two
// steps and are never owned twice.
type coPartitioned struct {
	kgo.GroupBalancer
	lead, follow string
}

// MemberBalancer wraps the inner balancer's member balancer, which does
// the work for the lead topic.
func (c coPartitioned) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, topics, err := c.GroupBalancer.MemberBalancer(members)
	if err != nil {
		return nil, nil, err
	}
	return coPartitionedMembers{inner: b, lead: c.lead, follow: c.follow}, topics, nil
}

// coPartitionedMembers balances one round: the lead topic by the inner
// balancer, the follow topic by mirroring it.
type coPartitionedMembers struct {
	inner        kgo.GroupMemberBalancer
	lead, follow string
}

// Balance is BalanceOrError for balancers that cannot fail.
func (m coPartitionedMembers) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	into, _ := m.BalanceOrError(topics)
	return into
}

// BalanceOrError balances every topic but the follow one with the inner
// balancer, then gives each member the follow partitions numbered like the
// lead partitions it got.
func (m coPartitionedMembers) BalanceOrError(topics map[string]int32) (kgo.IntoSyncAssignment, error) {
	lead := make(map[string]int32, len(topics))
	for t, n := range topics {
		if t != m.follow {
			lead[t] = n
		}
	}
	var into kgo.IntoSyncAssignment
	if b, ok := m.inner.(kgo.GroupMemberBalancerOrError); ok {
		var err error
		if into, err = b.BalanceOrError(lead); err != nil {
			return into, err
		}
	} else {
		into = m.inner.Balance(lead)
	}
	plan, ok := into.(*kgo.BalancePlan)
	if !ok {
		return into, nil // a balancer of another kind: the follow topic stays unassigned
	}
	followN := topics[m.follow]
	for _, assignment := range plan.AsMemberIDMap() {
		var mirrored []int32
		for _, p := range assignment[m.lead] {
			if p < followN {
				mirrored = append(mirrored, p)
			}
		}
		if len(mirrored) > 0 {
			assignment[m.follow] = mirrored
		}
	}
	return plan, nil
}
