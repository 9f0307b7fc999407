//! OpenIOC 1.0 and 1.1 files as a source (`--source openioc --file PATH`). Not built yet.
