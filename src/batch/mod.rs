//! The batch wing: a batch's items packed into parts (`pack`), a part's command and results file
//! (`parts`), a results file read back into per-test results (`results`), and the test tools'
//! own output turned into results (`libtest`, behind `ptest libtest`).

pub(crate) mod bounded;
pub(crate) mod case;
pub(crate) mod gojson;
pub(crate) mod libtest;
pub(crate) mod pack;
pub(crate) mod parts;
pub(crate) mod results;
