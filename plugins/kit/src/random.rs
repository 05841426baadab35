//! Randomness and time: 64-bit random numbers and version-4 UUIDs from the
//! operating system's source (`wasi:random` inside a component, through
//! `getrandom`), and the wall clock in Unix seconds.

/// 64 random bits from `getrandom` (in a component: `wasi:random`). Should
/// the source fail, std's randomly keyed hasher (seeded from the same
/// source) mixed with the clock stands in, so an id is never constant.
pub fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        hasher.write_u128(nanos);
        hasher.finish()
    })
}

/// A random (version 4) UUID in its hyphenated lower-case form, e.g. for
/// request ids: `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`.
pub fn uuid_v4() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_well_formed() {
        assert_ne!(random_u64(), random_u64());
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), id);
        assert!(unix_now() > 1_700_000_000);
    }
}
