//go:build !amd64 && !arm64

package main

// sysGetcpu: getcpu(2)'s number is not known here; getCPU returns -1.
const sysGetcpu = -1
