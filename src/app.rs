//! The program: parse the command line and `.config`, set up logging, run the command, and
//! turn the outcome into an exit code.

use std::ffi::OsString;

use crate::cli::{Command, IocTypeArg, OpenIocCommand, UdsoCommand};
use crate::commands;
use crate::config::{LoadError, Parsed, parse_with_config};
use crate::exit::ExitCode;
use crate::logging::{self, LogTarget};
use crate::output;
use crate::settings::{ServiceDirs, Settings};

/// Runs the program on `args` (the first is the program name) and returns the exit code.
pub fn main<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Parsed {
        cli,
        options,
        config,
    } = match parse_with_config(args) {
        Ok(parsed) => parsed,
        Err(LoadError::Usage(e)) => {
            // Help and version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return std::process::ExitCode::from(e.exit_code() as u8);
        }
        Err(LoadError::Config(e)) => {
            eprintln!("Error: {e}");
            return exit(ExitCode::Usage);
        }
    };
    let settings = Settings::new(options, config).with_service_dirs(ServiceDirs::from_env());
    let log_target = settings.log_target();
    if let Err(e) = logging::init(&log_target, settings.opts.logging.verbose) {
        eprintln!("Error: {e:#}");
        return exit(ExitCode::Usage);
    }
    if let Some(warning) = settings
        .config
        .as_ref()
        .and_then(|c| c.permission_warning())
    {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return exit(ExitCode::Failed);
        }
    };
    let outcome = runtime.block_on(async {
        let json = settings.opts.output.json;
        match &cli.command {
            Some(Command::List(args)) => {
                commands::list::run(&settings, args.kind.map(IocTypeArg::kind)).await?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Udso(UdsoCommand::List(args))) => {
                let client = settings.apex_client()?;
                commands::udso::list(&client, args.kind, json).await?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Openioc(command)) => {
                let client = settings.apex_client()?;
                match command {
                    OpenIocCommand::Upload(args) => {
                        let action = settings.scan_action();
                        commands::openioc::upload(&client, &args.files, args.extract, action, json)
                            .await
                    }
                    OpenIocCommand::List(_) => commands::openioc::list(&client, json).await,
                    OpenIocCommand::Delete(args) => {
                        commands::openioc::delete(&client, &args.hash_ids, json).await
                    }
                }
            }
            Some(Command::Simulate(args)) => {
                commands::simulate::run(args).await?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Watch(args)) => commands::watch::run(&settings, &args.watch).await,
            Some(Command::Demo(_)) => {
                commands::demo::run(settings.sink()).await?;
                Ok(ExitCode::Ok)
            }
            Some(Command::History(args)) => {
                commands::history::run(&settings, args.run.as_deref(), args.since)?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Explain(args)) => {
                commands::explain::run(&settings, &args.ioc).await?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Rollback(args)) => commands::rollback::run(&settings, &args.run).await,
            Some(Command::Help(args)) => {
                commands::help::print(&args.command)?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Man) => {
                commands::reference::man()?;
                Ok(ExitCode::Ok)
            }
            Some(Command::Completions(args)) => {
                commands::reference::completions(args.shell)?;
                Ok(ExitCode::Ok)
            }
            None => commands::sync::run(&settings).await,
        }
    });
    match outcome {
        Ok(code) => exit(code),
        // The reader of standard output went away: nothing more to say, and no failure.
        Err(failure) if output::is_closed(&failure.error) => exit(ExitCode::Ok),
        Err(failure) => {
            // The last gate: whatever a server sent back into an error, no secret of this
            // run leaves in it.
            let message = settings.redact(&failure.to_string());
            if matches!(log_target, LogTarget::File(_)) {
                tracing::error!("{message}");
            }
            eprintln!("Error: {message}");
            exit(failure.code)
        }
    }
}

fn exit(code: ExitCode) -> std::process::ExitCode {
    std::process::ExitCode::from(code as u8)
}
