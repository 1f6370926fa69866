"""SNMP transport for opsctl: one pysnmp engine per process, values as plain Python."""
