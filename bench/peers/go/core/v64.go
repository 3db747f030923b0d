package main

import "time"

// v64 is the 64-byte value of the u64v64 kind: for key k the words k^0 ..
// k^7, built as it is stored, as every contestant does (bench/README.md).
type v64 [8]uint64

func bigValue(k uint64) (v v64) {
	for j := range v {
		v[j] = k ^ uint64(j)
	}
	return
}

// runU64V64 is runU64 with 64-byte values, written out for the reason given
// at the top of main.go; the checksums read the first word.
func runU64V64(ks []uint64, n, rounds uint64) rep {
	var r rep
	ops := float64(n * rounds)
	var m map[uint64]v64
	var elapsed time.Duration
	var s uint64
	for i := uint64(0); i < rounds; i++ {
		t := time.Now()
		m = make(map[uint64]v64)
		for j := uint64(0); j < n; j++ {
			m[ks[j]] = bigValue(ks[j])
		}
		elapsed += time.Since(t)
		s += uint64(len(m))
	}
	r.ns[opInsert], r.sum[opInsert] = float64(elapsed.Nanoseconds())/ops, s

	s = 0
	t := time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := uint64(0); j < n; j++ {
			if v, ok := m[ks[j]]; ok {
				s += v[0]
			}
		}
	}
	r.ns[opGetHit], r.sum[opGetHit] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := n; j < 2*n; j++ {
			if v, ok := m[ks[j]]; ok {
				s += v[0] + 1
			}
		}
	}
	r.ns[opGetMiss], r.sum[opGetMiss] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for _, v := range m {
			s += v[0]
		}
	}
	r.ns[opIterate], r.sum[opIterate] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	elapsed = 0
	for i := uint64(0); i < rounds; i++ {
		if i > 0 {
			for j := uint64(0); j < n; j++ {
				m[ks[j]] = bigValue(ks[j])
			}
		}
		t := time.Now()
		for j := uint64(0); j < n; j++ {
			delete(m, ks[j])
		}
		elapsed += time.Since(t)
		s += n - uint64(len(m))
	}
	r.ns[opDelete], r.sum[opDelete] = float64(elapsed.Nanoseconds())/ops, s
	sink += r.sum[opGetHit]
	return r
}
