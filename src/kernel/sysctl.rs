//! Sysctls of the current network namespace, as /proc/sys files.
