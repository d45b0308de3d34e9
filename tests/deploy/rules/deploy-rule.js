function addCountry(user, context, callback) {
  context.idToken['https://deploy.example/country'] = context.request.geoip && context.request.geoip.country_name;
  callback(null, user, context);
}
