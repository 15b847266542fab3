//! The declarative configuration through the handle: export what the store holds, plan and
//! apply a configuration file ([`crate::declarative`]).

use super::{Bitbucket, Error};
use crate::declarative::{self, Configuration, Plan};

impl Bitbucket {
    /// The providers, clients and sources the store holds, as one [`Configuration`] (write it
    /// with [`Configuration::to_toml`]).
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::declarative::ExportSecrets;
    /// let config = bitbucket.export_configuration().await?;
    /// print!("{}", config.to_toml(ExportSecrets::References)?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn export_configuration(&self) -> Result<Configuration, Error> {
        Ok(Configuration::from_store(self.store().as_ref()).await?)
    }

    /// What [`apply_configuration`](Self::apply_configuration) would do, without writing.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn plan_configuration(
        &self,
        wanted: &Configuration,
        prune: bool,
    ) -> Result<Plan, Error> {
        let current = Configuration::from_store(self.store().as_ref()).await?;
        Ok(declarative::plan(&current, wanted, prune))
    }

    /// Makes the store match `wanted` in one transaction (items it lacks are deleted only when
    /// `prune`) and returns the plan it applied. Idempotent: a second run changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(bitbucket: gemnasium_bitbucket::Bitbucket) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemnasium_bitbucket::declarative::Configuration;
    /// let text = std::fs::read_to_string("gemnasium.toml")?;
    /// let wanted = Configuration::from_toml(&text, |name| std::env::var(name).ok())?;
    /// let plan = bitbucket.apply_configuration(&wanted, false).await?;
    /// println!("{:?}", plan.summary());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`]; nothing was written then.
    pub async fn apply_configuration(
        &self,
        wanted: &Configuration,
        prune: bool,
    ) -> Result<Plan, Error> {
        Ok(declarative::apply(self.store().as_ref(), wanted, prune).await?)
    }
}
