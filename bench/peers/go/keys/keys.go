// Package keys is the workload key generator of gomap-bench, bit for bit the
// same as bench_key_u64 and bench_key_str in bench/bench.h: splitmix64
// (Steele, Lea & Flood, 2014) from the seed, and string keys that are the 16
// lowercase hex digits of the u64 key.  Every contestant draws the same keys.
package keys

import "strconv"

// Increment is splitmix64's golden-ratio step.
const Increment uint64 = 0x9e3779b97f4a7c15

// Mix is splitmix64's output function: a bijection of the state.
func Mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// U64 is the i-th u64 key of seed's stream.
func U64(seed, i uint64) uint64 {
	return Mix(seed + (i+1)*Increment)
}

// StrLen is the length of every string key.
const StrLen = 16

// AppendStr appends the i-th string key of seed's stream to b.
func AppendStr(b []byte, seed, i uint64) []byte {
	k := U64(seed, i)
	var digits [StrLen]byte
	for d := StrLen - 1; d >= 0; d-- {
		digits[d] = "0123456789abcdef"[k&15]
		k >>= 4
	}
	return append(b, digits[:]...)
}

// Str is the i-th string key of seed's stream.
func Str(seed, i uint64) string {
	return string(AppendStr(nil, seed, i))
}

// ParseList parses "1024,1048576" (k and m suffixes allowed) as C's
// bench_parse_u64_list does.
func ParseList(s string) ([]uint64, error) {
	var out []uint64
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		item := s[start:i]
		mult := uint64(1)
		if n := len(item); n > 0 && (item[n-1] == 'k' || item[n-1] == 'K') {
			mult, item = 1024, item[:n-1]
		} else if n > 0 && (item[n-1] == 'm' || item[n-1] == 'M') {
			mult, item = 1024*1024, item[:n-1]
		}
		v, err := strconv.ParseUint(item, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v*mult)
		start = i + 1
	}
	return out, nil
}
