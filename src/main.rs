//! `sandterm`: parse the configuration, load the policy, run the service.

use clap::Parser;
use sandterm::config::Config;
use sandterm::policy::Policy;

fn main() {
    let config = Config::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let policy = match Policy::load(&config.policy, config.is_default_policy_path()) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("sandterm: {e}");
            std::process::exit(2);
        }
    };
    let result = actix_web::rt::System::new().block_on(sandterm::server::run(config, policy));
    if let Err(e) = result {
        eprintln!("sandterm: {e}");
        std::process::exit(1);
    }
}
