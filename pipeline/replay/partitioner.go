package replay

// keyPartition returns the partition Kafka's default partitioner (Java's,
// and franz-go's StickyKeyPartitioner) puts a record with this key on:
// murmur2 of the key, its sign bit cleared, modulo the partition count. A
// replay splits its input as a live topic would, so each partition's
// watermark and timers behave as in a live run.
func keyPartition(key []byte, partitions int) int {
	return int(int32(murmur2(key)&0x7fffffff) % int32(partitions))
}

// murmur2 is the 32-bit MurmurHash2 with Kafka's seed, as Kafka's
// Utils.murmur2 computes it.
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
