module.exports = function (user, context, cb) {
  cb(null, { user: { app_metadata: { source: 'deploy' } } });
};
