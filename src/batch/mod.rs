//! The batch wing: a batch's items packed into parts (`pack`), a part's command and results file
//! (`parts`), a results file read back into per-test results (`case`, `results`, `gojson`) within
//! the caps of `bounded`, the test tools' own output turned into results (`libtest` and `gotest`,
//! behind `ptest libtest` and `ptest gotest`), the node preset's parts given their tests' names
//! (`jstest`, behind `ptest jstest`), and pytest's settings as pytest finds them
//! (`pytest`, for `ptest init` and the pytest preset).

pub(crate) mod bounded;
pub(crate) mod case;
pub(crate) mod gojson;
pub(crate) mod gotest;
pub(crate) mod jstest;
pub(crate) mod libtest;
pub(crate) mod live;
pub(crate) mod pack;
pub(crate) mod parts;
pub(crate) mod pytest;
pub(crate) mod results;
