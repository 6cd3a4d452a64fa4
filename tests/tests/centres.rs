//! Two centres: the CLI, given both (`--api A,B`), carries on with the second when the first
//! is gone, and a change it posts is never sent twice.

use std::time::Duration;

use strata_testkit::{Mesh, Region, wait_for};

/// `strata status` against `api`: whether it succeeded, and what it printed.
fn status(api: &str) -> (bool, String) {
    let out = strata_testkit::cli()
        .args(["status", "--api", api])
        .env("STRATA_TOKEN", strata_testkit::admin_token())
        .output()
        .unwrap();
    (out.status.success(), strata_testkit::printed(&out))
}

#[test]
fn the_cli_moves_to_the_next_centre_when_one_is_gone() {
    let mut mesh = Mesh::builder()
        .super_managers(2)
        .interval(Duration::from_millis(500))
        .region(Region::new("west").members(1).sim("sim", "sim-", 2))
        .start();
    let first = format!("http://{}", mesh.super_managers[0].addr);
    let second = format!("http://{}", mesh.super_managers[1].addr);
    let both = format!("{first},{second}");
    wait_for("both centres see west", Duration::from_secs(30), || {
        for api in [&first, &second] {
            let (ok, said) = status(api);
            if !(ok && said.contains("west")) {
                return Err(said);
            }
        }
        Ok(())
    });

    mesh.super_managers[0].kill();
    let (ok, said) = status(&both);
    assert!(
        ok && said.contains("west"),
        "with the first centre gone: {said}"
    );
    // one centre alone, gone: the error names it
    let (ok, said) = status(&first);
    assert!(!ok && said.contains(&first), "{said}");
    // an address list with nothing in it is refused, naming the option
    let (ok, said) = status(" , ");
    assert!(!ok && said.contains("--api"), "{said}");
}
