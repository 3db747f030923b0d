package main

// The workload generator of bench/workload.c, bit for bit: the same key
// choosers, the same portable log/exp/pow (+ - * / only, in the same order,
// so the doubles come out identical), the same traces.  The specification
// is in bench/workload.h and docs/workloads.md; change all three together.

import (
	"math/bits"

	"gomap.bench/peers/keys"
)

const (
	opRead   = 0
	opUpdate = 1
	opInsert = 2
	opDelete = 3

	idxBits     = 30
	idxMask     = 1<<idxBits - 1
	missMark    = uint64(0x9e3779b97f4a7c15)
	value0Xor   = uint64(0x5851f42d4c957f2d)
	streamInc   = uint64(0xd1b54a32d192ed03)
	zipfThetaCt = 0.99
)

type mix struct {
	name   string
	readBP uint64
	churn  bool
}

var mixes = []mix{
	{"read100", 10000, false}, {"read99", 9900, false}, {"read90", 9000, false},
	{"read75", 7500, false}, {"read50", 5000, false}, {"update100", 0, false},
	{"churn", 0, true},
}

func findMix(name string) *mix {
	for i := range mixes {
		if mixes[i].name == name {
			return &mixes[i]
		}
	}
	return nil
}

func value0(key uint64) uint64 { return key ^ value0Xor }

func wlKey(seed, idx uint64) uint64 { return keys.U64(seed, idx) }

func uniform(r, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}

// float64(x*y) stops the compiler fusing a product into a following add
// (the spec allows fused multiply-add unless the product is converted).
// Variables, not constants: Go folds constant expressions exactly, C
// rounds at run time; variables make Go round at run time too.
var (
	ln2       = 0.6931471805599453
	sqrt2     = 1.4142135623730951
	sqrtHalf  = 0.7071067811865476
	zipfTheta = zipfThetaCt
)

func wlLog(x float64) float64 {
	e := 0
	m := x
	for m > sqrt2 {
		m = m * 0.5
		e++
	}
	for m < sqrtHalf {
		m = m * 2.0
		e--
	}
	s := (m - 1.0) / (m + 1.0)
	s2 := s * s
	term := s
	sum := 0.0
	for k := 0; k < 14; k++ {
		sum = sum + term/float64(2*k+1)
		term = term * s2
	}
	return float64(2.0*sum) + float64(float64(e)*ln2)
}

func wlExp(y float64) float64 {
	if y < -745.0 {
		return 0.0
	}
	if y > 709.0 {
		inf := 1e308
		return inf * 10
	}
	q := y/ln2 + 0.5
	k := int64(q)
	if float64(k) > q {
		k--
	}
	r := y - float64(float64(k)*ln2)
	sum := 1.0
	term := 1.0
	for i := 1; i <= 18; i++ {
		term = term * r / float64(i)
		sum = sum + term
	}
	for ; k > 0; k-- {
		sum = sum * 2.0
	}
	for ; k < 0; k++ {
		sum = sum * 0.5
	}
	return sum
}

func wlPow(x, y float64) float64 {
	if x == 0.0 {
		return 0.0
	}
	return wlExp(y * wlLog(x))
}

func zeta(n uint64, theta float64) float64 {
	sum := 0.0
	for i := uint64(1); i <= n; i++ {
		sum = sum + 1.0/wlPow(float64(i), theta)
	}
	return sum
}

type zipf struct {
	n                                     uint64
	theta, alpha, zetan, eta, onePlusHalf float64
}

var zetaCache = map[uint64]float64{}

func newZipf(n uint64, theta float64) *zipf {
	z := &zipf{n: n, theta: theta}
	z.alpha = 1.0 / (1.0 - theta)
	zn, ok := zetaCache[n]
	if !ok {
		zn = zeta(n, theta)
		zetaCache[n] = zn
	}
	z.zetan = zn
	zeta2 := zeta(2, theta)
	z.eta = (1.0 - wlPow(2.0/float64(n), 1.0-theta)) / (1.0 - zeta2/z.zetan)
	z.onePlusHalf = 1.0 + wlPow(0.5, theta)
	return z
}

func (z *zipf) next(r uint64) uint64 {
	u := float64(r>>11) * (1.0 / 9007199254740992.0)
	uz := u * z.zetan
	if uz < 1.0 {
		return 0
	}
	if uz < z.onePlusHalf {
		if 1 < z.n {
			return 1
		}
		return 0
	}
	v := float64(z.n) * wlPow(float64(z.eta*u)-z.eta+1.0, z.alpha)
	idx := uint64(v)
	if idx < z.n {
		return idx
	}
	return z.n - 1
}

func splitmix(state *uint64) uint64 {
	*state += keys.Increment
	return keys.Mix(*state)
}

func keyRange(m *mix, nkeys uint64) uint64 {
	if m.churn {
		return 2 * nkeys
	}
	return nkeys
}

func buildTrace(m *mix, dist string, nkeys, seed uint64, t uint64, n int) []uint32 {
	tr := make([]uint32, n)
	rng := keyRange(m, nkeys)
	var z *zipf
	if dist == "zipf" {
		z = newZipf(rng, zipfTheta)
	}
	state := seed + (t+1)*streamInc
	for i := range tr {
		r1 := splitmix(&state)
		r2 := splitmix(&state)
		var idx uint64
		if z != nil {
			idx = z.next(r1)
		} else {
			idx = uniform(r1, rng)
		}
		bp := ((r2 >> 32) * 10000) >> 32
		var op uint32
		if m.churn {
			if bp < 5000 {
				op = opInsert
			} else {
				op = opDelete
			}
		} else if bp < m.readBP {
			op = opRead
		} else {
			op = opUpdate
		}
		tr[i] = op<<idxBits | uint32(idx)
	}
	return tr
}

func traceDigest(tr []uint32) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, e := range tr {
		h ^= uint64(e)
		h *= 0x100000001b3
	}
	return h
}
