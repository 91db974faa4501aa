//! `paymux simulate wechat|alipay|unionpay --listen ADDR`: a channel simulator as its own process, for
//! trying the gateway's live mode (or a merchant's integration) without reaching the channel.
//! Its behaviour can be changed while it runs through `POST /_sim/knobs`; see the
//! `paymux-simulators` crate documentation.

use anyhow::{Context, bail};
use clap::Subcommand;
use paymux_simulators::{alipay, unionpay, wechat};
use std::net::SocketAddr;
use std::path::PathBuf;

/// WeChat's own documentation example merchant.
const TEST_WECHAT_MERCHANT: &str = "wx2421b1c4370ec43b:10000100:192006250b4c09247ec02edce69f6a2d";

#[derive(Subcommand)]
pub enum SimulateCommand {
    /// WeChat Pay API v2 (/pay/unifiedorder, /pay/micropay, /secapi/pay/refund, …).
    Wechat {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// A merchant, APPID:MCH_ID:API_KEY (repeatable) [default: WeChat's documentation example merchant]
        #[arg(long = "merchant", value_name = "APPID:MCH_ID:API_KEY")]
        merchants: Vec<String>,
    },
    /// Alipay open API (/gateway.do: alipay.trade.precreate, .pay, .query, .refund, …).
    Alipay {
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// An app, APP_ID=PUBLIC_KEY_FILE: the app's RSA public key, verifying its requests (repeatable)
        #[arg(long = "app", value_name = "APP_ID=PUBLIC_KEY_FILE", required = true)]
        apps: Vec<String>,
        /// The simulator's own RSA private key (PEM), signing its answers [default: a new one, printed]
        #[arg(long)]
        alipay_private_key_file: Option<PathBuf>,
    },
    /// UnionPay online, upacp 5.1.0 (/gateway/api/backTransReq.do, /gateway/api/queryTrans.do).
    Unionpay {
        #[arg(long, default_value = "127.0.0.1:8083")]
        listen: SocketAddr,
        /// A merchant, MER_ID=PUBLIC_KEY_FILE[:CERT_ID]: the RSA public key of its signing certificate, verifying its requests, and that certificate's certId (any certId when left out) (repeatable)
        #[arg(
            long = "merchant",
            value_name = "MER_ID=PUBLIC_KEY_FILE[:CERT_ID]",
            required = true
        )]
        merchants: Vec<String>,
        /// The simulator's own RSA private key (PEM), signing its answers and notifications [default: a new one, its public key printed]
        #[arg(long)]
        unionpay_private_key_file: Option<PathBuf>,
    },
}

pub async fn run(command: SimulateCommand) -> anyhow::Result<()> {
    match command {
        SimulateCommand::Wechat { listen, merchants } => {
            let merchants = if merchants.is_empty() {
                vec![TEST_WECHAT_MERCHANT.to_owned()]
            } else {
                merchants
            };
            let mut parsed = Vec::new();
            for merchant in &merchants {
                let parts: Vec<&str> = merchant.split(':').collect();
                let [appid, mch_id, api_key] = parts[..] else {
                    bail!("--merchant {merchant}: expected APPID:MCH_ID:API_KEY");
                };
                parsed.push(wechat::WechatMerchant::new(appid, mch_id, api_key));
            }
            let simulator = wechat::WechatSimulator::new(wechat::WechatConfig::new(parsed));
            for merchant in &merchants {
                let shown: Vec<&str> = merchant.splitn(3, ':').take(2).collect();
                eprintln!("merchant appid={} mch_id={}", shown[0], shown[1]);
            }
            serve("wechat", listen, simulator.router()).await
        }
        SimulateCommand::Alipay {
            listen,
            apps,
            alipay_private_key_file,
        } => {
            let mut config = alipay::AlipayConfig::new();
            for app in &apps {
                let (app_id, path) = app
                    .split_once('=')
                    .with_context(|| format!("--app {app}: expected APP_ID=PUBLIC_KEY_FILE"))?;
                let pem =
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
                let app = alipay::AlipayApp::from_pem(app_id, &pem)
                    .map_err(|e| anyhow::anyhow!("--app {app_id}: {e}"))?;
                config = config.with_app(app);
            }
            if let Some(path) = alipay_private_key_file {
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                config = config
                    .with_alipay_key_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("--alipay-private-key-file: {e}"))?;
            }
            let simulator =
                alipay::AlipaySimulator::try_new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            eprint!(
                "alipay public key (configure the gateway with it):\n{}",
                simulator.public_key_pem()
            );
            serve("alipay", listen, simulator.router()).await
        }
        SimulateCommand::Unionpay {
            listen,
            merchants,
            unionpay_private_key_file,
        } => {
            let mut config = unionpay::UnionpayConfig::new();
            for merchant in &merchants {
                let (mer_id, rest) = merchant.split_once('=').with_context(|| {
                    format!("--merchant {merchant}: expected MER_ID=PUBLIC_KEY_FILE[:CERT_ID]")
                })?;
                // A certId is all digits, so a trailing `:digits` is one (a path may hold `:`).
                let (path, cert_id) = match rest.rsplit_once(':') {
                    Some((path, cert_id))
                        if !cert_id.is_empty() && cert_id.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        (path, Some(cert_id))
                    }
                    _ => (rest, None),
                };
                let pem =
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
                let mut parsed = unionpay::UnionpayMerchant::from_pem(mer_id, &pem)
                    .map_err(|e| anyhow::anyhow!("--merchant {mer_id}: {e}"))?;
                if let Some(cert_id) = cert_id {
                    parsed = parsed.with_cert_id(cert_id);
                }
                eprintln!(
                    "merchant merId={mer_id} certId={}",
                    cert_id.unwrap_or("(any)")
                );
                config = config.with_merchant(parsed);
            }
            if let Some(path) = unionpay_private_key_file {
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                config = config
                    .with_unionpay_key_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("--unionpay-private-key-file: {e}"))?;
            }
            let simulator =
                unionpay::UnionpaySimulator::try_new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            eprint!(
                "unionpay root certificate (the gateway's unionpay_root_cert):\n{}\
                 unionpay intermediate certificate (the gateway's unionpay_middle_cert):\n{}\
                 (GET /_sim/certificates gives both; POST /_sim/certificates/rotate replaces the \
                 signing certificate as UnionPay does)\n",
                simulator.root_certificate_pem(),
                simulator.middle_certificate_pem(),
            );
            serve("unionpay", listen, simulator.router()).await
        }
    }
}

async fn serve(name: &str, listen: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    println!("paymux simulate {name} listening on http://{address}");
    axum::serve(listener, router).await?;
    Ok(())
}
