//! Every input that ever crashed the fuzzer (`scripts/fuzz.sh` keeps them in
//! `tests/fuzz-regressions/`) is replayed: no panic, and the round trip holds if it parses.

use bytes::Bytes;
use edxml::Limits;

#[test]
fn every_kept_fuzz_input_is_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions exists") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n == "README.md") {
            continue;
        }
        let input = Bytes::from(std::fs::read(&path).expect("readable"));
        let limits = Limits::default();
        if let Ok(parsed) = edxml::parse(&input, &limits) {
            edxml::validate(&parsed.package, &limits.zip);
            let again = edxml::parse(&Bytes::from(edxml::write(&parsed.package)), &limits);
            let again = again.unwrap_or_else(|e| panic!("{}: our output does not parse: {e}", path.display()));
            assert_eq!(again.package, parsed.package, "{}: round trip changed the package", path.display());
        }
        replayed += 1;
    }
    println!("replayed {replayed} fuzz regression inputs");
}
