package learn

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// KFold splits the row indices 0..n−1 into k folds for cross-validation: a
// random permutation from a PCG generator seeded with seed, dealt out in
// turn, so the folds differ in size by at most one. Each fold lists its
// indices in ascending order. The same (n, k, seed) gives the same folds on
// every platform and Go version: the shuffle is written here on top of PCG's
// specified output rather than left to rand.Rand's methods, whose algorithms
// may change. It panics unless 1 ≤ k ≤ n.
func KFold(n, k int, seed uint64) [][]int {
	if k < 1 || k > n {
		panic(fmt.Sprintf("learn: KFold(%d, %d): need 1 ≤ k ≤ n", n, k))
	}
	// The second PCG word is fixed: one seed is all a caller should need.
	src := rand.NewPCG(seed, 0x6c696e676572) // "linger"
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	// Fisher–Yates.
	for i := n - 1; i > 0; i-- {
		j := int(below(src, uint64(i)+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	fold := make([]int, n) // fold of each row index
	for pos, row := range perm {
		fold[row] = pos % k
	}
	folds := make([][]int, k)
	for f := range folds {
		folds[f] = make([]int, 0, n/k+1)
	}
	for row, f := range fold {
		folds[f] = append(folds[f], row)
	}
	return folds
}

// below returns a uniform integer in [0, bound) by Lemire's multiply-and-
// reject method: unbiased, unlike a plain modulo.
func below(src *rand.PCG, bound uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), bound)
		}
	}
	return hi
}
