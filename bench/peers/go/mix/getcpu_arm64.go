package main

// sysGetcpu is getcpu(2)'s number on linux/arm64 (the syscall package does not name it).
const sysGetcpu = 168
