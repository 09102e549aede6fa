#!/usr/bin/env bash
# pg_device_register.sh - device_register.sh with ztmd on PostgreSQL: the
# same flow (stations, records, registrations, clones, quota) against the
# PostgreSQL store backend on a throwaway server (lib.sh, ZTM_E2E_STORE=pg).
export ZTM_E2E_STORE=pg
exec bash "$(dirname "$0")/device_register.sh"
