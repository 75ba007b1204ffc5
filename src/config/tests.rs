use std::path::Path;

use super::*;

fn err(text: &str) -> ConfigErrors {
    parse_str(text, Path::new("t.toml")).expect_err("config should be rejected")
}

#[test]
fn probe() {
    for t in [
        "[daemon]\nstate_dirr = \"/x\"\n",
        "[daemon]\nshutdown_grace = 5\n",
        "[metrics]\nlisten = \"nope\"\n",
        "[interfaces.eth0]\nstatic_addresses = [\"198.18.0.1/24\", \"x\"]\n",
        "[interfaces.eth0]\nstatic_adresses = []\n",
        "[bogus]\n",
        "[daemon\n",
    ] {
        println!("{}", err(t));
    }
}
