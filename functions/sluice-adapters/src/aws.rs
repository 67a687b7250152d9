//! Building SDK clients the way every Sluice binary needs them.

use aws_config::SdkConfig;

/// An S3 client for `config`. With an endpoint override (the local emulator) it uses
/// path-style addressing, since bucket subdomains of 127.0.0.1 do not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config);
    let builder = if config.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}
