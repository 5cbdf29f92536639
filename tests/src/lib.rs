//! Integration tests against real Docker, PostgreSQL and the sockt binary.
