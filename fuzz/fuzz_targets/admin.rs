#![no_main]
// See rgmanager::fuzzing for what this target checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(check) = rgmanager::fuzzing::target("admin") {
        check(data)
    }
});
